"""Many samples: 8 samples x 128 tokens in each of two columns (the starter pair), as the
samples view runs them, against the same 16 generations one after the other.

Together: desktop.core.compare.samples.SamplesJob, the two workers at once with the compare
split of the cores (compare_config: one thread each on 2 cores), each column's samples in turn.
One after the other: the same 16 requests (same prompt, seeds and lengths), one at a time, each
model on an engine with the whole machine's threads (2 on 2 cores), as a user would run them by
hand. Both ask for log-probabilities (the samples need each token's entropy), so only the
scheduling differs. Each sequential generation is capped at the length its sample reached, so
both sides write the same tokens. Raw mode and a story opening keep both models writing.

    python -m bench.samples [--rounds 3] [--samples 8] [--tokens 128] [--alone-threads N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench.common import median, memory_mb, starter_models, warn_if_busy
from desktop.core.chat.prompts import Mode, RenderedPrompt, TokenizerSpec, render_raw
from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.run import compare_config
from desktop.core.compare.samples import SampleRun, SamplesJob, plan_samples
from desktop.core.engine import events as p
from desktop.core.engine.config import EngineConfig, physical_cores
from desktop.core.engine.local.client import EngineClient
from desktop.core.models.library import InstalledModel, Library

PROMPT = "Chapter One\n\nThe rain had not stopped for three days when"


def together(
    engines: list[EngineClient],
    columns: list[tuple[InstalledModel, Mode, RenderedPrompt]],
    sampling: SamplingParams,
    count: int,
) -> tuple[float, SampleRun]:
    """One samples run as the window runs it: its wall time and what it made."""
    plan = plan_samples(PROMPT, None, columns, sampling, count)
    started = time.perf_counter()
    run = SamplesJob(engines).run(plan)
    return time.perf_counter() - started, run


def one_by_one(
    engines: list[EngineClient],
    prompts: list[RenderedPrompt],
    sampling: SamplingParams,
    lengths: list[list[tuple[int, int]]],
) -> tuple[float, int]:
    """Every (seed, length) of each column, one generation at a time; the tokens written."""
    written = 0
    started = time.perf_counter()
    for engine, prompt, column in zip(engines, prompts, lengths, strict=True):
        for seed, length in column:
            request = sampling.with_changes(seed=seed, max_tokens=max(1, length))
            for event in engine.generate(prompt, request, 0, logprobs=True):
                if isinstance(event, p.Done):
                    written += event.stats.generated_tokens
    return time.perf_counter() - started, written


def _busy_and_total() -> tuple[int, int]:
    """Busy and total CPU ticks of the whole machine so far (Linux /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _ticks(pid: int) -> int:
    """CPU ticks a process has used (user + system), 0 when it is gone."""
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(parts[11]) + int(parts[12])


def _ours(pids: list[int]) -> int:
    return sum(_ticks(pid) for pid in pids)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument(
        "--alone-threads",
        type=int,
        default=0,
        help="threads of the one-by-one engines (default: the physical cores)",
    )
    args = parser.parse_args()
    warn_if_busy()
    library = Library()
    models = [library.describe(path, "starter") for path in starter_models().values()]
    prompts = [render_raw(PROMPT, TokenizerSpec.from_info(m.info)) for m in models]
    raw: Mode = "raw"
    columns = [(m, raw, pr) for m, pr in zip(models, prompts, strict=True)]
    sampling = SamplingParams(temperature=0.8, max_tokens=args.tokens, seed=1000)
    split = compare_config(2)
    alone = args.alone_threads or physical_cores()
    whole = EngineConfig(n_threads=alone, n_threads_batch=alone)
    pairs = [EngineClient(m.path, split) for m in models]
    singles = [EngineClient(m.path, whole) for m in models]
    for engine in pairs + singles:
        engine.load()
    warm = sampling.with_changes(max_tokens=16)
    for engine, prompt in zip(pairs + singles, prompts + prompts, strict=True):
        for _ in engine.generate(prompt, warm, 0, logprobs=True):
            pass
    pids = [os.getpid(), *(e.pid or 0 for e in pairs + singles)]
    busy0, total0 = _busy_and_total()
    ours0 = _ours(pids)
    # The lengths the samples reach with these seeds: the one-by-one side writes as many.
    _, first = together(pairs, columns, sampling, args.samples)
    lengths = [[(s.seed, len(s.tokens)) for s in c.samples] for c in first.columns]
    at_once: list[float] = []
    apart: list[float] = []
    tokens_at_once: list[int] = []
    tokens_apart: list[int] = []
    for r in range(args.rounds):
        # The order alternates, so neither side always runs first.
        for side in ("together", "apart") if r % 2 == 0 else ("apart", "together"):
            if side == "together":
                seconds, run = together(pairs, columns, sampling, args.samples)
                at_once.append(seconds)
                tokens_at_once.append(sum(len(s.tokens) for c in run.columns for s in c.samples))
            else:
                seconds, written = one_by_one(singles, prompts, sampling, lengths)
                apart.append(seconds)
                tokens_apart.append(written)
        print(
            f"round {r + 1}: together {at_once[-1]:6.2f} s ({tokens_at_once[-1]} tokens) · "
            f"one by one {apart[-1]:6.2f} s ({tokens_apart[-1]} tokens)",
            flush=True,
        )
    busy1, total1 = _busy_and_total()
    others = (busy1 - busy0 - (_ours(pids) - ours0)) / max(1, total1 - total0)
    rss_pairs = [memory_mb(e.pid or 0) for e in pairs]
    for engine in pairs + singles:
        engine.close()
    t, a = median(at_once), median(apart)
    tt, ta = median([float(x) for x in tokens_at_once]), median([float(x) for x in tokens_apart])
    print(
        f"\nstarter pair, raw mode, {args.samples} samples x {args.tokens} tokens per column, "
        f"temperature 0.8, {args.rounds} rounds, medians:"
    )
    together_label = f"together (SamplesJob, {split.n_threads} thread(s) per worker)"
    print(f"  {together_label:<46} {t:7.2f} s  {tt / t:6.1f} tok/s")
    alone_label = (
        f"one by one ({whole.n_threads} thread(s), {len(columns) * args.samples} generations)"
    )
    print(f"  {alone_label:<46} {a:7.2f} s  {ta / a:6.1f} tok/s")
    print(f"  {'wall time together / one by one':<46} {t / a:7.3f}")
    print(f"  {'CPU used by other processes meanwhile':<46} {max(0.0, others):7.0%}")
    print(
        f"  sample workers' memory (RSS)  {' + '.join(f'{m:.0f} MB' for m in rss_pairs)} = "
        f"{sum(rss_pairs):.0f} MB"
    )


if __name__ == "__main__":
    main()
