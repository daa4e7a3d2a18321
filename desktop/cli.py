"""`duet`: the command line. Every expected failure is one plain line on stderr and exit 1;
a bad flag is one line and exit 2. No tracebacks."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from desktop import __version__
from desktop.core.chat.prompts import (
    MODES,
    ChatTemplate,
    Message,
    RenderedPrompt,
    TokenizerSpec,
    exact,
    load_template_file,
    messages_from_json,
    render_chat,
    render_raw,
    template_of,
)
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.base import Engine
from desktop.core.engine.factory import render_input, server_request
from desktop.core.engine.local.client import EngineClient
from desktop.core.engine.local.config import EngineConfig
from desktop.core.engine.stream import follow
from desktop.core.errors import DuetError, InsecureKey, InvalidPrompt, RemoteError
from desktop.core.models.library import InstalledModel, Library
from desktop.core.models.starter import require_starter_paths


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="duet",
        description="Talk to GGUF models offline; watch a base and an instruct model side by side.",
    )
    parser.add_argument("--version", action="version", version=f"duet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    gen = sub.add_parser("generate", help="stream a generation to stdout")
    gen.add_argument(
        "text", metavar="TEXT", help="the document (raw) or your message (chat); - reads stdin"
    )
    gen.add_argument(
        "--model",
        "-m",
        help="model id, part of it, or a .gguf path (default: the starter base model for raw, instruct for chat)",
    )
    gen.add_argument(
        "--mode",
        choices=MODES,
        default="raw",
        help="raw continuation or chat template (default raw)",
    )
    gen.add_argument("--system", "-s", help="system prompt (chat mode)")
    defaults = SamplingParams()
    gen.add_argument("--max-tokens", "-n", type=int, default=defaults.max_tokens)
    gen.add_argument(
        "--temperature", "-t", type=float, default=defaults.temperature, help="0 for greedy"
    )
    gen.add_argument("--top-p", type=float, default=defaults.top_p)
    gen.add_argument("--top-k", type=int, default=defaults.top_k)
    gen.add_argument("--min-p", type=float, default=defaults.min_p)
    gen.add_argument("--repeat-penalty", type=float, default=defaults.repeat_penalty)
    gen.add_argument("--seed", type=int, default=None, help="fixed seed for a reproducible output")
    gen.add_argument(
        "--show-prompt", action="store_true", help="print the exact prompt text to stderr first"
    )
    gen.add_argument(
        "--top-k-probs",
        type=int,
        default=0,
        metavar="K",
        help="after the output, list each token's top K alternatives",
    )
    _engine_flags(gen)

    render = sub.add_parser("render", help="print the exact prompt text a model receives")
    src = render.add_mutually_exclusive_group()
    src.add_argument(
        "--model",
        "-m",
        help="use this model's chat template and BOS (default: starter instruct model)",
    )
    src.add_argument("--template", type=Path, metavar="FILE.jinja", help="a chat template file")
    render.add_argument("--bos", default="", help="BOS token text for --template")
    render.add_argument("--eos", default="", help="EOS token text for --template")
    render.add_argument(
        "--messages", type=Path, metavar="FILE.json", help="OpenAI-style message list"
    )
    render.add_argument("--mode", choices=MODES, default="chat")
    render.add_argument("--system", "-s", help="system prompt")
    render.add_argument(
        "text", nargs="?", metavar="TEXT", help="a user message (chat) or the document (raw)"
    )

    cmp = sub.add_parser("compare", help="one input through two or three models at once")
    cmp.add_argument("text", metavar="TEXT", help="the input; - reads stdin")
    cmp.add_argument(
        "--models", default="", help="comma-separated model names (default: the starter pair)"
    )
    cmp.add_argument(
        "--mode", default="chat", help="raw or chat, for all, or one per model: raw,chat"
    )
    cmp.add_argument("--system", "-s", help="system prompt (chat mode)")
    cmp.add_argument("--max-tokens", "-n", type=int, default=128)
    cmp.add_argument(
        "--temperature",
        "-t",
        type=float,
        default=0.0,
        help="default 0: greedy, so differences are the models'",
    )
    cmp.add_argument("--seed", type=int, default=0)
    cmp.add_argument("--score", action="store_true", help="score each output with the other model")
    cmp.add_argument("--export", type=Path, metavar="FILE.md|FILE.json", help="save the comparison")
    cmp.add_argument("--ctx", type=int, default=0, help="context length in tokens (default 4096)")
    remote = sub.add_parser(
        "remote", help="OpenAI-compatible servers (llama-server, vLLM, Ollama, ...)"
    )
    remote_sub = remote.add_subparsers(
        dest="remote_command", metavar="ACTION", parser_class=_Parser, required=True
    )
    remote_add = remote_sub.add_parser("add", help="add a server")
    remote_add.add_argument("name", metavar="NAME")
    remote_add.add_argument("url", metavar="URL", help="e.g. http://127.0.0.1:8080")
    remote_add.add_argument(
        "--api-key-env", default="", metavar="VAR", help="environment variable holding its API key"
    )
    remote_add.add_argument(
        "--allow-insecure-key",
        action="store_true",
        help="send the key over plain http to another machine (readable on the way)",
    )
    remote_sub.add_parser("list", help="list servers and their models")
    remote_rm = remote_sub.add_parser("rm", help="remove a server")
    remote_rm.add_argument("name", metavar="NAME")
    sub.add_parser("models", help="list installed models")
    chats = sub.add_parser("chats", help="list saved chats and documents, newest first")
    chats.add_argument("--search", default="", help="only those whose title or text contains this")
    export = sub.add_parser("export", help="print a saved chat as Markdown or JSON")
    export.add_argument("id", type=int, metavar="ID")
    export.add_argument("--format", choices=("md", "json"), default="md")
    pull = sub.add_parser("pull", help="download a model from the Hugging Face Hub")
    pull.add_argument(
        "spec",
        metavar="REPO[:FILE|:QUANT]",
        help="owner/name, owner/name:Q4_K_M, owner/name:file.gguf, or a catalog id",
    )
    pull.add_argument(
        "--allow-unverified",
        action="store_true",
        help="accept a file the Hub publishes no sha256 for (it cannot be checked)",
    )
    search = sub.add_parser("search", help="search the Hub for GGUF models")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--limit", type=int, default=20)
    rm = sub.add_parser("rm", help="delete a downloaded model (asks first)")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask")
    selftest = sub.add_parser(
        "self-test", help="load both starter models and generate in both modes"
    )
    _engine_flags(selftest)
    return parser


def _engine_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads", type=int, default=0, help="generation threads (default: half the cores)"
    )
    parser.add_argument(
        "--ctx", type=int, default=0, help="context length in tokens (default 4096)"
    )
    parser.add_argument(
        "--gpu-layers",
        type=int,
        default=None,
        help="layers to offload to the GPU (default: all on Apple Silicon, none elsewhere)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {
        "generate": cmd_generate,
        "compare": cmd_compare,
        "render": cmd_render,
        "models": cmd_models,
        "remote": cmd_remote,
        "chats": cmd_chats,
        "export": cmd_export,
        "pull": cmd_pull,
        "search": cmd_search,
        "rm": cmd_rm,
        "self-test": cmd_self_test,
    }
    try:
        if args.command is None:
            return cmd_window()
        return commands[args.command](args)
    except DuetError as exc:
        print(f"duet: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nduet: stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `duet generate ... | head`
        return 0


# Commands -----------------------------------------------------------------------------------


def cmd_window() -> int:
    """`duet` with no command opens the window."""
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    )
    if headless:
        raise DuetError(
            "No display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset). "
            "Run it in a desktop session, or use the command line: duet --help"
        )
    try:
        from desktop.ui.app import run
    except ImportError as exc:
        raise DuetError(f"The window needs PySide6, which is not installed here ({exc}).") from None
    return run()


def cmd_models(_: argparse.Namespace) -> int:
    library = Library()
    models = library.models()
    if not models:
        print("No models installed. The offline starter pair installs with `make run`.")
    else:
        print(f"{'ID':<28} {'KIND':<9} {'QUANT':<8} {'SIZE':>9} {'CONTEXT':>8}  SOURCE")
        for m in models:
            size = f"{m.info.file_size / 1e6:,.0f} MB"
            print(
                f"{m.id:<28} {m.kind:<9} {m.info.quantization:<8} {size:>9} {m.info.context_length:>8}  {m.source}"
            )
    for problem in library.problems:
        print(f"skipped {problem.path}: {problem.message}", file=sys.stderr)
    return 0


def cmd_remote(args: argparse.Namespace) -> int:
    from desktop.core.engine.remote import servers as remote
    from desktop.core.engine.remote.openai import RemoteEngine

    if args.remote_command == "add":
        try:
            server = remote.add_server(
                args.name, args.url, args.api_key_env, allow_insecure_key=args.allow_insecure_key
            )
        except InsecureKey as exc:
            raise RemoteError(f"{exc} To send it anyway, add --allow-insecure-key.") from None
        if server.insecure_key_ok:
            print(f"Warning: the API key of {server.name} goes over plain http.", file=sys.stderr)
        try:
            models = RemoteEngine(server, "").models()
            print(
                f"Added {server.name} ({server.url}): {len(models)} model(s): {', '.join(models)}"
            )
        except RemoteError as exc:
            print(f"Added {server.name} ({server.url}), but: {exc}")
    elif args.remote_command == "rm":
        remote.remove_server(args.name)
        print(f"Removed {args.name}.")
    else:
        known = remote.servers()
        if warning := remote.servers_warning():
            print(warning, file=sys.stderr)
        if not known:
            print("No servers yet: duet remote add NAME URL")
        for server in known:
            key = f" · key from ${server.api_key_env}" if server.api_key_env else ""
            try:
                models = ", ".join(RemoteEngine(server, "").models()) or "no models"
            except RemoteError as exc:
                models = f"unreachable: {exc}"
            print(f"{server.name:<16} {server.url}{key}\n    {models}")
    return 0


def _generate_remote(args: argparse.Namespace, text: str, sampling: SamplingParams) -> int:
    """`--model remote:NAME[/MODEL]`: the same modes, on an OpenAI-compatible server."""
    from desktop.core.engine.remote.openai import RemoteEngine
    from desktop.core.engine.remote.servers import server

    name, _, model = args.model.removeprefix("remote:").partition("/")
    engine = RemoteEngine(server(name), model)
    if not model:
        models = engine.models()
        if not models:
            raise RemoteError(f"The server {name} lists no models.", server=name)
        engine.model = models[0]
    if args.mode == "raw":
        rendered = exact(text)
    else:
        system = [Message("system", args.system)] if args.system else []
        rendered = server_request([*system, Message("user", text)], name)
    done = _stream(engine, rendered, sampling, args.top_k_probs)
    print(
        f"\n[remote:{name}/{engine.model} · {args.mode} · stopped: {done.reason.describe()} · "
        f"{done.stats.generated_tokens} tokens, {done.stats.tokens_per_second:.1f} tok/s · seed {done.stats.seed}]",
        file=sys.stderr,
    )
    return 0


def cmd_chats(args: argparse.Namespace) -> int:
    from datetime import datetime

    from desktop.core.chat.store import Store

    store = Store()
    chats = store.list_chats(args.search)
    if not chats:
        print("No saved chats yet." if not args.search else f"No chats match '{args.search}'.")
        return 0
    print(f"{'ID':>6}  {'KIND':<8}  {'UPDATED':<16}  {'MESSAGES':>8}  TITLE")
    for chat in chats:
        when = datetime.fromtimestamp(chat.updated).strftime("%Y-%m-%d %H:%M")
        print(f"{chat.id:>6}  {chat.kind:<8}  {when:<16}  {chat.messages:>8}  {chat.title}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from desktop.core.chat.store import Store

    store = Store()
    if args.format == "json":
        print(json.dumps(store.export_json(args.id), indent=2, ensure_ascii=False))
    else:
        print(store.export_markdown(args.id))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from desktop.core.hub.api import search

    repos = search(args.query, limit=max(1, min(args.limit, 100)))
    if not repos:
        print(f"No GGUF repositories match '{args.query}'.")
        return 0
    print(f"{'REPOSITORY':<56} {'KIND':<9} {'DOWNLOADS':>10}")
    for repo in repos:
        gated = "  (gated)" if repo.gated else ""
        print(f"{repo.repo_id:<56} {repo.kind:<9} {repo.downloads:>10,}{gated}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from desktop.core.hub.api import estimate_ram
    from desktop.core.hub.pull import pull, resolve

    library = Library()
    target = resolve(args.spec, library.catalog)
    ram = estimate_ram(target.size, n_ctx=4096, kv_per_token=_remote_kv(target))
    parts = f" in {len(target.parts)} parts" if len(target.parts) > 1 else ""
    print(
        f"{target.repo_id} · {target.filename}{parts} · {target.quant} · {target.size / 1e6:,.0f} MB · "
        f"memory at 4k context: {ram.fit} (about {ram.total / 1e9:.1f} of {ram.machine / 1e9:.0f} GB"
        f"{'' if ram.exact_kv else ', KV cache estimated'})",
        file=sys.stderr,
    )
    bar = _ProgressBar()
    try:
        path, fetched = pull(target, progress=bar.update, allow_unverified=args.allow_unverified)
    except KeyboardInterrupt:
        bar.end()
        print(
            "duet: stopped. Run the same command again to continue where it stopped.",
            file=sys.stderr,
        )
        return 130
    bar.end()
    model = next((m for m in library.models() if m.path == path), None)
    name = model.id if model is not None else path.name
    how = "already downloaded" if fetched == 0 else f"downloaded {fetched / 1e6:,.0f} MB"
    checked = "sha256 verified where the Hub publishes one" if args.allow_unverified else ""
    print(f"{name}: {how}, {checked or 'sha256 verified'} · {path}", file=sys.stderr)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    library = Library()
    model = library.resolve(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise DuetError(
                f"Deleting {model.id} needs confirmation: run it in a terminal, or add --yes."
            )
        answer = input(
            f"Delete {model.id} ({model.info.file_size / 1e6:,.0f} MB, {model.path})? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("Kept.")
            return 0
    print(library.remove(model))
    return 0


def _remote_kv(target: object) -> int | None:
    """The model's real KV-cache size per token, from its header (None if it cannot be read)."""
    from desktop.core.errors import HubError
    from desktop.core.hub.api import HubFile, remote_kv_per_token
    from desktop.core.hub.pull import PullTarget

    assert isinstance(target, PullTarget)
    file = HubFile(target.repo_id, target.filename, target.parts, target.size, None, target.quant)
    try:
        return remote_kv_per_token(file)
    except HubError:
        return (
            None  # the estimate falls back to a guess; the download itself will say what is wrong
        )


class _ProgressBar:
    """One line on stderr, redrawn in place: bar, percent, MB, rate, time left."""

    def __init__(self) -> None:
        self.drawn = False

    def update(self, p: object) -> None:
        from desktop.core.hub.download import DownloadProgress

        assert isinstance(p, DownloadProgress)
        width = 30
        filled = int(width * p.fraction)
        eta = f"{int(p.eta // 60)}:{int(p.eta % 60):02d}" if p.eta is not None else "–"
        line = (
            f"\r  [{'#' * filled}{'.' * (width - filled)}] {p.fraction:4.0%}  "
            f"{p.done / 1e6:,.0f}/{p.total / 1e6:,.0f} MB  {p.rate / 1e6:6.1f} MB/s  ETA {eta} "
        )
        sys.stderr.write(line)
        sys.stderr.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            self.drawn = False


def cmd_render(args: argparse.Namespace) -> int:
    if args.mode == "raw" and args.text is None:
        raise InvalidPrompt("Raw mode renders a document: give it as TEXT.")
    template: ChatTemplate | None
    if args.template is not None:
        template = load_template_file(args.template)
        spec = TokenizerSpec(bos_token=args.bos or None, eos_token=args.eos or None, add_bos=False)
    else:
        model = _model(args.model, "chat")
        template, spec = template_of(model.info), TokenizerSpec.from_info(model.info)
    if args.mode == "raw":
        rendered = render_raw(_read_text(args.text), spec)
    else:
        rendered = render_chat(_messages(args), spec, template, args.system)
    for note in rendered.notes:
        print(f"note: {note}", file=sys.stderr)
    sys.stdout.write(rendered.text)  # exactly the prompt: nothing before, nothing after
    sys.stdout.flush()
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    text = _read_text(args.text)
    if not text.strip():
        raise InvalidPrompt("The text is empty: give the model something to continue or answer.")
    sampling = SamplingParams(
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        min_p=args.min_p,
        repeat_penalty=args.repeat_penalty,
        max_tokens=args.max_tokens,
        seed=args.seed,
    ).validated()
    if not 0 <= args.top_k_probs <= 20:
        raise InvalidPrompt("--top-k-probs must be between 0 and 20.")
    if args.model and args.model.startswith("remote:"):
        return _generate_remote(args, text, sampling)
    model = _model(args.model, args.mode)
    rendered = render_input(model, args.mode, text, args.system)
    for note in rendered.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.show_prompt:
        print(
            f"--- prompt ({rendered.template_name or 'raw'}) ---\n{rendered.text}\n--- output ---",
            file=sys.stderr,
        )
    config = _config(args)
    config.check()
    with EngineClient(model.path, config) as engine:
        engine.load()
        done = _stream(engine, rendered, sampling, args.top_k_probs)
    if done is None:
        return 1
    stats = done.stats
    print(
        f"\n[{model.id} · {args.mode} · stopped: {done.reason.describe()} · "
        f"{stats.generated_tokens} tokens, {stats.tokens_per_second:.1f} tok/s · "
        f"prompt {stats.prompt_tokens} tokens · seed {stats.seed}]",
        file=sys.stderr,
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from desktop.core.compare.export import save
    from desktop.core.compare.run import (
        Column,
        Comparison,
        compare_config,
        run_columns,
        score_with,
    )

    text = _read_text(args.text)
    if not text.strip():
        raise InvalidPrompt("The text is empty: give the models something to continue or answer.")
    library = Library()
    if args.models:
        models = [library.resolve(name.strip()) for name in args.models.split(",") if name.strip()]
    else:
        require_starter_paths()
        pair = library.catalog.starter_pair()
        models = [library.resolve(pair.base.id), library.resolve(pair.instruct.id)]
    if not 2 <= len(models) <= 3:
        raise DuetError("Compare takes two or three models: --models A,B[,C].")
    modes = [m.strip() for m in args.mode.split(",")]
    modes = modes * len(models) if len(modes) == 1 else modes
    if len(modes) != len(models) or any(m not in MODES for m in modes):
        raise DuetError("--mode is raw or chat, or one per model (raw,chat).")
    sampling = SamplingParams(
        temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed
    ).validated()
    columns = [
        Column(model, mode, render_input(model, mode, text, args.system))  # type: ignore[arg-type]
        for model, mode in zip(models, modes, strict=True)
    ]
    comparison = Comparison(text, args.system, sampling, columns)
    config = compare_config(len(columns), n_ctx=args.ctx or EngineConfig().n_ctx)
    engines = [EngineClient(model.path, config) for model in models]
    try:
        run_columns(engines, comparison)
        if args.score:
            for i, column in enumerate(columns):
                other = (i + 1) % len(columns)
                score_with(engines[other], column, columns[other])
    finally:
        for engine in engines:
            engine.close()
    for column in columns:
        print(f"=== {column.model.id} ({column.model.kind}, {column.mode}) ===")
        print(column.text.strip() if column.mode == "chat" else column.text)
        if column.error:
            print(f"[error: {column.error}]")
        elif column.done:
            stats = column.done.stats
            print(
                f"[stopped: {column.done.reason.describe()} · {stats.generated_tokens} tokens · {stats.tokens_per_second:.1f} tok/s]"
            )
        if column.surprise:
            mean = sum(t.logprob or 0 for t in column.surprise) / len(column.surprise)
            print(f"[scored by {column.surprise_model}: mean log-probability {mean:.2f}]")
        print()
    divergence = comparison.divergence
    if divergence is None:
        print("The outputs are identical.")
    else:
        a, b = columns[0], columns[1]
        print(
            f"First divergence: character {divergence.char}, token {divergence.token_a} of {a.model.id} "
            f"and token {divergence.token_b} of {b.model.id}."
        )
    if args.export:
        save(comparison, args.export)
        print(f"Saved {args.export}", file=sys.stderr)
    return 1 if any(c.error for c in columns) else 0


def cmd_self_test(args: argparse.Namespace) -> int:
    """Both starter models, one raw and one chat generation; exit 0 only if all is well."""
    started = time.perf_counter()
    base_path, instruct_path = require_starter_paths()
    library = Library()
    checks: list[tuple[str, bool, str]] = []
    sampling = SamplingParams(temperature=0.0, max_tokens=24, seed=0)
    cases = (
        (base_path, "raw", "The capital of France is"),
        (instruct_path, "chat", "What is the capital of France?"),
    )
    for path, mode, text in cases:
        model = library.describe(path, "starter")
        name = f"{path.name} ({mode})"
        try:
            with EngineClient(path, _config(args)) as engine:
                info = engine.load()
                done = follow(engine.generate(render_input(model, mode, text, None), sampling))
            ok = done.stats.generated_tokens > 0 and bool(done.text.strip())
            detail = (
                f"loaded in {info.load_seconds:.2f}s, {done.stats.generated_tokens} tokens at "
                f"{done.stats.tokens_per_second:.1f} tok/s, stopped: {done.reason.value}: {done.text.strip()[:60]!r}"
            )
        except DuetError as exc:
            ok, detail = False, str(exc)
        checks.append((name, ok, detail))
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    passed = all(ok for _, ok, _ in checks)
    print(f"self-test {'passed' if passed else 'FAILED'} in {time.perf_counter() - started:.1f}s")
    return 0 if passed else 1


# Helpers ------------------------------------------------------------------------------------


def _model(name: str | None, mode: str) -> InstalledModel:
    library = Library()
    if name:
        return library.resolve(name)
    require_starter_paths()
    pair = library.catalog.starter_pair()
    return library.resolve(pair.base.id if mode == "raw" else pair.instruct.id)


def _config(args: argparse.Namespace) -> EngineConfig:
    return EngineConfig(
        n_ctx=args.ctx or EngineConfig().n_ctx, n_threads=args.threads, n_gpu_layers=args.gpu_layers
    )


def _read_text(text: str) -> str:
    return sys.stdin.read() if text == "-" else text


def _messages(args: argparse.Namespace) -> list[Message]:
    if args.messages is not None:
        try:
            data = json.loads(args.messages.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DuetError(f"Cannot read {args.messages}: {exc.strerror or exc}.") from None
        except ValueError as exc:
            raise DuetError(f"{args.messages} is not valid JSON: {exc}.") from None
        messages = messages_from_json(data, str(args.messages))
    else:
        messages = []
    if args.text is not None:
        messages.append(Message("user", _read_text(args.text)))
    if not messages:
        raise InvalidPrompt("Nothing to render: give a TEXT message or --messages FILE.json.")
    return messages


def _stream(
    engine: Engine, rendered: RenderedPrompt, sampling: SamplingParams, top_k_probs: int
) -> p.Done:
    """Print the reply as it streams; with top_k_probs, each token's alternatives after it."""
    tokens: list[p.Token] = []
    started = rendered.mode == "raw"

    def show(event: p.Token) -> None:
        nonlocal started
        text = event.text
        if not started:  # a transcript reply starts after "Assistant:"'s space
            text = text.lstrip()
            started = bool(text)
        sys.stdout.write(text)
        sys.stdout.flush()
        if top_k_probs and event.token_id >= 0:
            tokens.append(event)

    try:
        done = follow(engine.generate(rendered, sampling, top_k_probs, top_k_probs > 0), show)
    except KeyboardInterrupt:
        engine.cancel()
        raise
    if tokens:
        _print_alternatives(tokens)
    return done


def _print_alternatives(tokens: list[p.Token]) -> None:
    import math

    print("\n\ntoken probabilities (top alternatives):", file=sys.stderr)
    for token in tokens:
        chosen = math.exp(token.logprob) if token.logprob is not None else float("nan")
        alts = "  ".join(f"{a.text!r} {math.exp(a.logprob):.2f}" for a in token.top)
        print(f"  {token.piece!r:<18} {chosen:5.2f}   {alts}", file=sys.stderr)
