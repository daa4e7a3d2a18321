"""The engine worker: a process that owns one `llama_cpp.Llama` and streams tokens.

This is the only module that imports llama_cpp, and it runs only in the worker process: a
GGML assert kills this process, never the window or the conversation in it.

The token loop is Duet's own, on llama.cpp's C API: decode one token, sample it with llama.cpp's
native sampler chain, send it. `Llama.create_completion` copies every logit row into NumPy and
runs Python per token (262,144 floats a token for Gemma 3), which costs it 10-15% against
llama.cpp's own speed; this loop does no per-token work over the vocabulary unless log-probs
are asked for.
"""

from __future__ import annotations

import codecs
import collections
import ctypes
import multiprocessing
import os
import random
import signal
import threading
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import numpy as np

from desktop.core.engine import events as p
from desktop.core.engine.local import protocol as rq
from desktop.core.engine.local.stopper import StopMatcher
from desktop.core.errors import DuetError, EngineError, InvalidPrompt, ModelLoadError, PromptTooLong
from desktop.core.models.gguf_info import read_model_info

_LOG_TAIL: collections.deque[str] = collections.deque(maxlen=20)
_llama_cpp: Any = None
PARENT_CHECK_SECONDS = 0.25  # a worker outlives the app that started it by at most this
# Positions whose logits one scoring batch asks for. llama.cpp keeps an output buffer as large
# as the largest batch's logits: with Gemma's 262,144-token vocabulary a position is 1 MiB, so a
# whole 512-token batch would add half a gigabyte (more, with the copies read from it).
SCORE_OUTPUTS = 32


def main(conn: Connection, cancel: Synchronized[int]) -> None:
    """Process entry point: serve requests until Shutdown, the pipe closes or the app dies."""
    watch_parent()
    # Ctrl+C in a terminal reaches the whole process group: the app decides when this ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker = Worker(conn, cancel)
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if isinstance(request, rq.Shutdown):
                return
            try:
                worker.handle(request)
            except OSError:
                # handle() reports every failure of its own, so what escapes is a send that
                # found the pipe closed: the app is gone and nobody is left to tell.
                return
    finally:
        worker.close()


def watch_parent() -> None:
    """End this process within PARENT_CHECK_SECONDS of the app's death, whatever it is doing.

    Without this a worker notices only at its next pipe read or write, which a long prompt or
    a slow file delays by many seconds, and a killed app would leave a process holding a whole
    model in memory. The parent's sentinel (a pipe on POSIX, a process handle on Windows)
    becomes ready when the parent dies; on POSIX a changed parent pid says the same, in case
    another process inherited that pipe. prctl(PR_SET_PDEATHSIG) would not do: it fires when
    the *thread* that started the worker ends, and the window starts workers from short-lived
    threads."""
    parent = multiprocessing.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    parent_pid = os.getppid() if os.name == "posix" else None

    def orphaned() -> bool:
        if sentinel is not None and wait([sentinel], timeout=PARENT_CHECK_SECONDS):
            return True
        if sentinel is None:
            time.sleep(PARENT_CHECK_SECONDS)
        return parent_pid is not None and os.getppid() != parent_pid

    def watch() -> None:
        while not orphaned():
            pass
        os._exit(0)  # at once: no cleanup can reach a dead app, and llama.cpp may be mid-call

    threading.Thread(target=watch, name="duet-parent-watch", daemon=True).start()


def _import_llama() -> Any:
    global _llama_cpp
    if _llama_cpp is None:
        import llama_cpp

        @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
        def log_callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            line = text.decode("utf-8", errors="replace")
            if level in (2, 3):  # WARN, ERROR: kept to explain a failed load
                _LOG_TAIL.append(line.strip())
            if os.environ.get("DUET_LLAMA_LOG"):
                os.write(2, text)

        llama_cpp.llama_log_set(log_callback, ctypes.c_void_p(0))
        globals()["_log_callback"] = log_callback  # keep the C callback alive
        _llama_cpp = llama_cpp
    return _llama_cpp


class Worker:
    def __init__(self, conn: Connection, cancel: Synchronized[int]) -> None:
        self.conn = conn
        self.cancel = cancel
        self.llm: Any = None
        self.kv_tokens: list[int] = []  # what the KV cache of sequence 0 holds, in order
        self.pieces: dict[int, bytes] = {}
        self.request_id = 0

    def send(self, event: object) -> None:
        self.conn.send(event)

    def handle(self, request: object) -> None:
        try:
            if isinstance(request, rq.LoadModel):
                self.send(p.Loaded(self.load(request)))
            elif isinstance(request, rq.Generate):
                self.generate(request)
            elif isinstance(request, rq.Score):
                self.score(request)
            elif isinstance(request, rq.Tokenize):
                ids = self.tokenize(request.text)
                self.send(
                    p.Tokens(
                        tuple(ids), tuple(self.piece(t).decode("utf-8", "replace") for t in ids)
                    )
                )
            else:
                self.send(p.Failed(EngineError(f"Unknown request {type(request).__name__}.")))
        except DuetError as exc:
            self.send(p.Failed(exc))
        except Exception as exc:  # reported, and the worker lives on for the next request
            self.send(p.Failed(EngineError(f"{type(exc).__name__}: {exc}")))

    # Loading ----------------------------------------------------------------------------------

    def load(self, request: rq.LoadModel) -> p.RuntimeInfo:
        started = time.perf_counter()
        info = read_model_info(request.path)  # a bad file fails here, before llama.cpp sees it
        config = request.config.resolved(info.context_length)
        llama_cpp = _import_llama()
        self.close()
        _LOG_TAIL.clear()
        try:
            self.llm = self._new_llama(request.path, config, flash_attn=True)
        except Exception:
            # Flash attention is faster on CPU (measured: +5-9% tokens/s on both starter
            # models) but not every architecture has it; without it is always possible.
            try:
                self.llm = self._new_llama(request.path, config, flash_attn=False)
            except Exception as exc:
                detail = "; ".join(_LOG_TAIL) or str(exc)
                raise ModelLoadError(f"llama.cpp could not load {request.path}: {detail}") from None
        self.kv_tokens = []
        self.pieces = {}
        # One batch, reused by every prompt: logits are asked for the last token only.
        self.batch = llama_cpp.llama_batch_init(config.n_batch, 0, 1)
        ctx, vocab = self.llm._ctx.ctx, self.llm._model.vocab
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        bos = llama_cpp.llama_vocab_bos(vocab)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
        self.n_ctx = int(llama_cpp.llama_n_ctx(ctx))
        self.bos_text = self.piece(bos).decode("utf-8", "replace") if add_bos and bos >= 0 else None
        self.add_bos = add_bos
        self.config = config
        return p.RuntimeInfo(
            path=Path(request.path),
            n_ctx=self.n_ctx,
            n_ctx_train=int(llama_cpp.llama_model_n_ctx_train(self.llm._model.model)),
            n_vocab=self.n_vocab,
            add_bos=add_bos,
            bos_token=self.bos_text,
            n_threads=config.n_threads,
            n_threads_batch=config.n_threads_batch,
            n_gpu_layers=config.n_gpu_layers or 0,
            load_seconds=time.perf_counter() - started,
            pid=os.getpid(),
        )

    @staticmethod
    def _new_llama(path: Path, config: Any, flash_attn: bool) -> Any:
        return _llama_cpp.Llama(
            model_path=str(path),
            n_ctx=config.n_ctx,
            n_batch=config.n_batch,
            n_ubatch=config.n_batch,
            n_threads=config.n_threads,
            n_threads_batch=config.n_threads_batch,
            n_gpu_layers=config.n_gpu_layers,
            flash_attn=flash_attn,
            # A full-size sliding-window cache (Gemma 3) lets a later turn reuse any prefix
            # of the KV cache; the default small one can only be cleared.
            swa_full=True,
            verbose=False,
        )

    def close(self) -> None:
        if self.llm is not None:
            _llama_cpp.llama_batch_free(self.batch)
            self.llm.close()
            self.llm = None

    # Tokens -----------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Special tokens written as text (`<|im_start|>`) become those tokens. A leading BOS
        text is left to the tokenizer to add, as llama.cpp's server does with templates."""
        if self.llm is None:
            raise ModelLoadError("No model is loaded.")
        add_special = False
        if self.bos_text and text.startswith(self.bos_text):
            text, add_special = text[len(self.bos_text) :], True
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=True))

    def piece(self, token: int) -> bytes:
        cached = self.pieces.get(token)
        if cached is None:
            buf = ctypes.create_string_buffer(64)
            vocab = self.llm._model.vocab
            n = _llama_cpp.llama_token_to_piece(vocab, token, buf, 64, 0, True)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = _llama_cpp.llama_token_to_piece(vocab, token, buf, -n, 0, True)
            cached = self.pieces[token] = buf.raw[:n]
        return cached

    # Generation -------------------------------------------------------------------------------

    def cancelled(self) -> bool:
        return bool(self.cancel.value >= self.request_id)

    def generate(self, req: rq.Generate) -> None:
        if self.llm is None:
            raise ModelLoadError("No model is loaded.")
        received = time.perf_counter()
        self.request_id = req.request_id
        lib = _llama_cpp
        params = req.sampling.validated()
        seed = params.seed if params.seed is not None else random.randrange(2**32 - 1)

        prompt = self.tokenize(req.prompt)
        if not prompt:
            raise InvalidPrompt("The prompt is empty: write something for the model to continue.")
        if len(prompt) >= self.n_ctx:
            raise PromptTooLong(
                f"The prompt is {len(prompt)} tokens but the context holds {self.n_ctx}: "
                "shorten it, or raise the context length.",
                tokens=len(prompt),
                n_ctx=self.n_ctx,
            )
        cached = self.reuse_prefix(prompt)
        completed = self.eval_prompt(prompt, cached)
        prompt_done = time.perf_counter()

        sampler = self.build_sampler(params, seed, prompt)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stopper = StopMatcher(req.stop)
        out: list[str] = []
        reason = p.StopReason.CANCELLED
        self.n_generated = 0
        self.first_token_at = 0.0
        try:
            if completed:
                reason = self.token_loop(req, params, sampler, stopper, decoder, out)
        finally:
            lib.llama_sampler_free(sampler)
        if reason is not p.StopReason.STOP_STRING:
            tail = stopper.flush() + decoder.decode(b"", final=True)
            if tail:
                out.append(tail)
                self.send(p.Token(tail, -1, "", None, ()))
        done = time.perf_counter()
        first = self.first_token_at or done
        self.send(
            p.Done(
                reason=reason,
                text="".join(out),
                stats=p.Stats(
                    prompt_tokens=len(prompt),
                    cached_tokens=cached,
                    generated_tokens=self.n_generated,
                    prompt_seconds=prompt_done - received,
                    ttft_seconds=first - received,
                    generation_seconds=done - prompt_done,
                    seed=seed,
                    context_used=len(self.kv_tokens),
                    context_size=self.n_ctx,
                ),
            )
        )

    def token_loop(
        self,
        req: rq.Generate,
        params: Any,
        sampler: Any,
        stopper: StopMatcher,
        decoder: codecs.IncrementalDecoder,
        out: list[str],
    ) -> p.StopReason:
        """The hot loop: per token one sample, one send and one decode, nothing over the
        vocabulary unless log-probabilities were asked for."""
        lib = _llama_cpp
        ctx, vocab = self.llm._ctx.ctx, self.llm._model.vocab
        decode, batch_one, sample = (
            lib.llama_decode,
            lib.llama_batch_get_one,
            lib.llama_sampler_sample,
        )
        is_eog, pieces, send, cancel = (
            lib.llama_vocab_is_eog,
            self.pieces,
            self.conn.send,
            self.cancel,
        )
        kv_tokens, n_ctx, request_id, max_tokens = (
            self.kv_tokens,
            self.n_ctx,
            self.request_id,
            params.max_tokens,
        )
        want_probs = req.logprobs or req.top_k_probs > 0
        token_buf = (lib.llama_token * 1)()
        logprob: float | None = None
        entropy: float | None = None
        top: tuple[p.Alternative, ...] = ()
        while True:
            if cancel.value >= request_id:
                return p.StopReason.CANCELLED
            token = sample(sampler, ctx, -1)
            if is_eog(vocab, token):
                return p.StopReason.EOS
            piece = pieces.get(token) or self.piece(token)
            text, stopped = stopper.feed(decoder.decode(piece))
            if want_probs:
                logprob, top, entropy = self.probabilities(ctx, token, req.top_k_probs)
            send(p.Token(text, token, piece.decode("utf-8", "replace"), logprob, top, entropy))
            if not self.first_token_at:
                self.first_token_at = time.perf_counter()
            out.append(text)
            self.n_generated += 1
            if stopped:
                return p.StopReason.STOP_STRING
            if len(kv_tokens) >= n_ctx:
                return p.StopReason.CONTEXT_FULL
            # Every sent token is decoded into the KV cache, so the next turn of a chat
            # reuses the whole reply without evaluating it again.
            token_buf[0] = token
            if decode(ctx, batch_one(token_buf, 1)) != 0:
                return p.StopReason.CONTEXT_FULL
            kv_tokens.append(token)
            if self.n_generated >= max_tokens:
                return p.StopReason.MAX_TOKENS

    def reuse_prefix(self, prompt: list[int], limit: int | None = None) -> int:
        """Keep the KV cache's longest common prefix with this prompt (at most `limit` tokens);
        drop the rest."""
        lib = _llama_cpp
        common = 0
        for a, b in zip(self.kv_tokens, prompt, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(prompt) - 1)  # at least one token must be decoded for logits
        if limit is not None:
            common = min(common, limit)
        mem = lib.llama_get_memory(self.llm._ctx.ctx)
        if not lib.llama_memory_seq_rm(mem, 0, common, -1):
            lib.llama_memory_clear(mem, True)
            common = 0
        del self.kv_tokens[common:]
        return common

    def eval_prompt(self, prompt: list[int], start: int) -> bool:
        """Decode prompt[start:] in batches, logits for the last token only. Returns False if
        cancelled part way."""
        lib = _llama_cpp
        ctx = self.llm._ctx.ctx
        total = len(prompt)
        n_batch = self.config.n_batch
        cancel, request_id = self.cancel, self.request_id
        batch = self.batch

        # Cancel during a long prompt: ggml asks this between graph nodes. It costs a Python
        # call per node, so it is set only for the prompt, not for one-token decodes.
        @lib.ggml_abort_callback  # type: ignore[untyped-decorator]
        def should_abort(_: ctypes.c_void_p) -> bool:
            return bool(cancel.value >= request_id)

        lib.llama_set_abort_callback(ctx, should_abort, None)
        try:
            pos = start
            while pos < total:
                if self.cancelled():
                    return False
                chunk = prompt[pos : pos + n_batch]
                self.fill_batch(chunk, pos, logits_from=total - 1)
                rc = lib.llama_decode(ctx, batch)
                if rc != 0:
                    # Aborted or failed mid-batch: the cache may hold part of it. Drop it.
                    lib.llama_memory_seq_rm(lib.llama_get_memory(ctx), 0, pos, -1)
                    if rc == 2 or self.cancelled():
                        return False
                    raise PromptTooLong(f"llama.cpp could not evaluate the prompt (code {rc}).")
                self.kv_tokens.extend(chunk)
                pos += len(chunk)
                if total - start > n_batch:
                    self.send(p.PromptProgress(pos - start, total - start))
            return True
        finally:
            lib.llama_set_abort_callback(ctx, lib.ggml_abort_callback(), None)

    def fill_batch(self, chunk: list[int], pos: int, logits_from: int) -> None:
        """Put `chunk` in the shared batch at positions pos.., sequence 0, asking for logits
        at every position from `logits_from` on."""
        batch = self.batch
        for i, token in enumerate(chunk):
            batch.token[i] = token
            batch.pos[i] = pos + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = pos + i >= logits_from
        batch.n_tokens = len(chunk)

    def score(self, req: rq.Score) -> None:
        """Teacher forcing: the log-probability this model gives each token of a continuation,
        exactly (one token at a time) or batched (the whole text in one pass)."""
        if self.llm is None:
            raise ModelLoadError("No model is loaded.")
        self.request_id = req.request_id
        prompt = self.tokenize(req.prompt)
        continuation = (
            list(req.token_ids) if req.token_ids else self.tokenize_plain(req.continuation)
        )
        if not prompt or not continuation:
            raise InvalidPrompt("Scoring needs a prompt and a text to score.")
        if len(prompt) + len(continuation) > self.n_ctx:
            raise PromptTooLong(
                f"Prompt and text are {len(prompt) + len(continuation)} tokens but the context "
                f"holds {self.n_ctx}.",
                tokens=len(prompt) + len(continuation),
                n_ctx=self.n_ctx,
            )
        if req.batched:
            scored = self.score_batched(prompt, continuation, req.top_k)
        else:
            scored = self.score_exact(prompt, continuation, req.top_k)
        self.send(p.Scored(tuple(scored)))

    def score_exact(
        self, prompt: list[int], continuation: list[int], k: int
    ) -> list[p.ScoredToken]:
        """The prompt from an empty cache and the continuation one token at a time, exactly as
        a first-turn generation evaluates them: llama.cpp's batched and single-token kernels
        round differently on K-quants (measured on Gemma 3 Q4_K_M: up to 0.33 nats apart), and
        this must reproduce the log-probabilities seen while generating."""
        lib = _llama_cpp
        ctx = self.llm._ctx.ctx
        # A prompt token re-evaluated on its own would round differently from the batch it
        # was first evaluated in: start empty.
        lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
        self.kv_tokens = []
        if not self.eval_prompt(prompt, 0):
            raise InvalidPrompt("Scoring was cancelled.")
        scored: list[p.ScoredToken] = []
        token_buf = (lib.llama_token * 1)()
        for j, token in enumerate(continuation):
            if self.cancelled():
                raise InvalidPrompt("Scoring was cancelled.")
            scored.append(self.scored_token(ctx, token, k))
            if j + 1 < len(continuation):
                token_buf[0] = token
                if lib.llama_decode(ctx, lib.llama_batch_get_one(token_buf, 1)) != 0:
                    raise PromptTooLong("llama.cpp could not evaluate the text to score.")
                self.kv_tokens.append(token)
            if j % 16 == 15:
                self.send(p.PromptProgress(j + 1, len(continuation)))
        return scored

    def score_batched(
        self, prompt: list[int], continuation: list[int], k: int
    ) -> list[p.ScoredToken]:
        """The continuation in batches with logits at every position (SCORE_OUTPUTS at a time;
        the rest of the prompt in batches of n_batch, without), after whatever of the prompt
        the KV cache already holds (a column that just generated from this prompt evaluates
        only the text). A fraction of a generation's time, at the price of batched rounding:
        for labelling another model's text, not for reproducing this model's own
        log-probabilities."""
        lib = _llama_cpp
        ctx = self.llm._ctx.ctx
        tokens = prompt + continuation[:-1]
        first = len(prompt) - 1  # the position whose logits predict continuation[0]
        pos = self.reuse_prefix(tokens, limit=first)
        batch, n_batch, total = self.batch, self.config.n_batch, len(tokens)
        scored: list[p.ScoredToken] = []
        while pos < total:
            if self.cancelled():
                raise InvalidPrompt("Scoring was cancelled.")
            end = min(pos + n_batch, first) if pos < first else pos + SCORE_OUTPUTS
            chunk = tokens[pos : min(end, pos + n_batch)]
            self.fill_batch(chunk, pos, logits_from=first)
            if lib.llama_decode(ctx, batch) != 0:
                lib.llama_memory_seq_rm(lib.llama_get_memory(ctx), 0, pos, -1)
                raise PromptTooLong("llama.cpp could not evaluate the text to score.")
            self.kv_tokens.extend(chunk)
            for i in range(max(0, first - pos), len(chunk)):
                scored.append(self.scored_token(ctx, continuation[pos + i - first], k, index=i))
            pos += len(chunk)
            self.send(p.PromptProgress(len(scored), len(continuation)))
        return scored

    def scored_token(self, ctx: Any, token: int, k: int, index: int = -1) -> p.ScoredToken:
        logprob, top, entropy = self.probabilities(ctx, token, k, index)
        return p.ScoredToken(
            token, self.piece(token).decode("utf-8", "replace"), logprob, top, entropy
        )

    def tokenize_plain(self, text: str) -> list[int]:
        """A continuation's tokens: no BOS, special tokens written as text kept as tokens."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def build_sampler(self, params: Any, seed: int, prompt: list[int]) -> Any:
        """llama.cpp's native chain, in the order of llama.cpp's common defaults."""
        lib = _llama_cpp
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if params.repeat_penalty != 1.0 and params.repeat_last_n != 0:
            penalties = lib.llama_sampler_init_penalties(
                self.n_vocab, params.repeat_last_n, params.repeat_penalty, 0.0, 0.0
            )
            lib.llama_sampler_chain_add(chain, penalties)
            for token in prompt[-params.repeat_last_n :]:
                lib.llama_sampler_accept(penalties, token)
        if params.temperature <= 0.0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        if params.top_k > 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(params.top_k))
        if params.top_p < 1.0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(params.top_p, 1))
        if params.min_p > 0.0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(params.min_p, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(params.temperature))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed))
        return chain

    def probabilities(
        self, ctx: Any, token: int, k: int, index: int = -1
    ) -> tuple[float, tuple[p.Alternative, ...], float]:
        """The model's own distribution (before sampling settings) at this step: the chosen
        token's log-probability, the top-k, and the distribution's entropy in nats. From this
        step's logits only: no logits_all.

        k repeated argmax passes over a copy beat one argpartition by ~10x on Gemma's 262,144
        logits (0.3 ms against 2.9 ms a token), so this can stay on while generating. The
        entropy reuses the exponentials of the normaliser: one dot product more."""
        logits = np.ctypeslib.as_array(
            _llama_cpp.llama_get_logits_ith(ctx, index), shape=(self.n_vocab,)
        )
        top_logit = float(logits.max())
        shifted = logits - top_logit
        # float32 throughout, summed in float64: a float64 copy made the dot product below
        # cost 1.8 ms a token on Gemma's vocabulary; this way the entropy costs ~nothing.
        weights = np.exp(shifted)
        total = float(weights.sum(dtype=np.float64))
        log_total = float(np.log(total))
        log_z = top_logit + log_total
        # H = -sum p log p with p = w / total and log p = shifted - log total.
        entropy = max(0.0, log_total - float(np.dot(weights, shifted)) / total)
        chosen = float(logits[token]) - log_z
        if k <= 0:
            return chosen, (), entropy
        work = logits.copy()
        top: list[p.Alternative] = []
        for _ in range(min(k, self.n_vocab)):
            i = int(work.argmax())
            top.append(
                p.Alternative(i, self.piece(i).decode("utf-8", "replace"), float(logits[i]) - log_z)
            )
            work[i] = -np.inf
        return chosen, tuple(top), entropy
