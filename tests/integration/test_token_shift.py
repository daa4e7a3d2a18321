"""Token shift on the real starter pair: the instruct model's answer ranked by the base model,
each label checked against the base model's own top choices at that position."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.tokens import TOP_K
from desktop.core.compare.run import Column, Comparison, run_columns, score_with
from desktop.core.compare.shift import MARGINAL_RANK, ShiftLabel
from desktop.core.engine.local.client import EngineClient
from tests.integration.helpers import duet
from tests.integration.test_compare import starter_columns

pytestmark = pytest.mark.slow

# Batched and one-token-at-a-time evaluation round differently on K-quants (up to 0.33 nats
# measured): where two choices are closer than this, either order is the model's own.
NEAR_TIE = 0.4


def answered(instruct: EngineClient) -> tuple[Column, Column]:
    """(base column, instruct column) with the instruct model's greedy answer."""
    base, instruct_column = starter_columns(
        "Give me three tips for sleeping well.", ("raw", "chat")
    )
    comparison = Comparison(
        "Give me three tips for sleeping well.",
        None,
        SamplingParams(temperature=0.0, max_tokens=48, seed=1),
        [instruct_column],
    )
    run_columns([instruct], comparison)
    assert instruct_column.done is not None and instruct_column.text
    return base, instruct_column


def test_labels_match_the_scoring_models_own_choices(
    base_engine: EngineClient, instruct_engine: EngineClient
) -> None:
    base, answer = answered(instruct_engine)
    score_with(base_engine, answer, base)
    shift = answer.shift
    assert shift is not None and shift.scorer == base.model.id and shift.author == answer.model.id
    # The reference: the base model's distribution at each position, one token at a time, the
    # way it generates.
    exact = base_engine.score(base.prompt.text, continuation=answer.text, top_k=TOP_K).tokens
    assert [t.token_id for t in shift.tokens] == [t.token_id for t in exact]
    # Labelled on the base model's own tokenization of the text.
    assert "".join(t.piece for t in shift.tokens) == answer.text
    disagreements = 0
    for labelled, own in zip(shift.tokens, exact, strict=True):
        ranked = [alt.token_id for alt in own.top]
        rank = ranked.index(own.token_id) if own.token_id in ranked else None
        expected = (
            ShiftLabel.UNSHIFTED
            if rank == 0
            else ShiftLabel.MARGINAL
            if rank is not None and rank < MARGINAL_RANK
            else ShiftLabel.SHIFTED
        )
        if labelled.label is expected:
            continue
        # Only a near tie may be ranked otherwise by the batched pass.
        disagreements += 1
        boundary = own.top[0].logprob if labelled.label is ShiftLabel.UNSHIFTED else None
        gaps = [abs(own.logprob - alt.logprob) for alt in own.top[: MARGINAL_RANK + 1]]
        assert min(gaps + ([abs(boundary - own.logprob)] if boundary else [])) < NEAR_TIE, (
            labelled,
            own,
        )
    assert disagreements <= len(exact) // 10
    # The hover data: the scoring model's top 5 with probabilities, best first.
    for token in shift.tokens:
        assert len(token.top) == TOP_K
        assert [a.logprob for a in token.top] == sorted(
            (a.logprob for a in token.top), reverse=True
        )
    # Every class is counted, and the shares add up.
    assert abs(sum(shift.share(label) for label in ShiftLabel) - 1.0) < 1e-9
    assert shift.count(ShiftLabel.SHIFTED) == len(shift.shifted)


def test_scoring_after_generating_reuses_the_prompt_and_agrees_with_a_cold_cache(
    base_engine: EngineClient, instruct_engine: EngineClient
) -> None:
    base, answer = answered(instruct_engine)
    cold = base_engine.score(
        base.prompt.text, continuation=answer.text, top_k=TOP_K, batched=True
    ).tokens
    # The base model's cache now holds this prompt: scoring again evaluates only the text.
    warm = base_engine.score(
        base.prompt.text, continuation=answer.text, top_k=TOP_K, batched=True
    ).tokens
    assert [t.token_id for t in warm] == [t.token_id for t in cold]
    for a, b in zip(cold, warm, strict=True):
        assert abs(a.logprob - b.logprob) < 0.2
        assert a.entropy is not None and a.entropy >= 0.0


def test_cli_compare_shift_prints_and_exports_the_labels(
    starter_paths: tuple[object, object], tmp_path: Path
) -> None:
    out = tmp_path / "shift.json"
    result = duet(
        "compare",
        "--mode",
        "raw,chat",
        "-n",
        "24",
        *("--shift", "--export", str(out), "Give me three tips for sleeping well."),
    )
    assert result.returncode == 0, result.stderr
    assert (
        "Token shift of smollm2-135m-instruct's text, ranked by gemma-3-270m on its own tokens:"
        in result.stdout
    )
    assert "Token shift of gemma-3-270m's text, ranked by smollm2-135m-instruct" in result.stdout
    data = json.loads(out.read_text())
    shift = data["columns"][1]["shift"]
    assert shift["author"] == "smollm2-135m-instruct" and shift["scorer"] == "gemma-3-270m"
    assert sum(shift["counts"].values()) == len(shift["tokens"]) > 0
    assert "".join(t["text"] for t in shift["tokens"]) == data["columns"][1]["output"]
    assert {t["label"] for t in shift["tokens"]} <= {"unshifted", "marginal", "shifted"}
    # The printed list names each shifted token with what the scorer would have said instead.
    shifted = [t for t in shift["tokens"] if t["label"] == "shifted"]
    if shifted:
        assert f"{shifted[0]['text']!r} -> {shifted[0]['top'][0]['text']!r}" in result.stdout


def test_cli_compare_forks_every_column_and_saves_for_llm_comparator(
    starter_paths: tuple[object, object], tmp_path: Path
) -> None:
    out = tmp_path / "comparator.json"
    result = duet(
        "compare",
        "--mode",
        "raw,chat",
        "-n",
        "12",
        *("--fork-at", "3", "--comparator", str(out), "The best way to learn a language is"),
    )
    assert result.returncode == 0, result.stderr
    assert "--- forked at token 3 with" in result.stdout
    assert "of gemma-3-270m: every column goes on from" in result.stdout
    assert result.stdout.count("=== gemma-3-270m (base, raw) ===") == 2
    data = json.loads(out.read_text())
    assert len(data["examples"]) == 2  # the comparison and its fork
    assert data["examples"][0]["input_text"] == "The best way to learn a language is"
    bad = duet("compare", "-n", "4", "--fork-at", "99", "Hi")
    assert bad.returncode == 1 and "no token 99 to fork at" in bad.stderr
    assert "Traceback" not in bad.stderr
    # What was generated before the failed fork is still printed.
    assert "=== gemma-3-270m (base, chat) ===" in bad.stdout
    negative = duet("compare", "--fork-at", "-1", "Hi", timeout=60)
    assert negative.returncode == 1 and "counts tokens from 0" in negative.stderr


def _peak_rss(pid: int) -> int:
    """A process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def test_batched_scoring_of_a_long_text_keeps_the_workers_memory_bounded(base_path: Path) -> None:
    """Gemma's vocabulary is 262,144 tokens: each position's logits are 1 MiB. Logits for a
    whole 512-token batch at once would add half a gigabyte to the worker for one score."""
    from desktop.core.engine.config import EngineConfig

    text = " ".join(f"word{i} and" for i in range(200))  # several hundred tokens
    with EngineClient(base_path, EngineConfig(n_ctx=2048, n_threads=2)) as engine:
        engine.load()
        assert engine.pid is not None
        engine.score("A list:", continuation="warm up", top_k=TOP_K, batched=True)
        before = _peak_rss(engine.pid)
        scored = engine.score("A list:", continuation=text, top_k=TOP_K, batched=True)
        assert len(scored.tokens) > 400
        grown = _peak_rss(engine.pid) - before
    assert grown < 150 * 1024 * 1024, f"the worker grew by {grown / 2**20:.0f} MiB"
