"""Many samples of one input per column: N generations of each column with the seeds s..s+N-1
(the same seeds for every column, so only the models differ), and what they say about each
model (desktop.core.compare.samples_stats).

Columns run at once, each on its own engine and thread, as a comparison does
(desktop.core.compare.run); a column's samples run one after another on its engine, so two
local workers share the cores exactly as in a single comparison (compare_config). A run is
planned (`plan_samples`: checked settings, a recorded seed), then run by a `SamplesJob` that
any thread can cancel; what comes back is frozen data.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from desktop.core.chat.prompts import Mode, RenderedPrompt
from desktop.core.chat.sampling import MAX_SEED, SamplingParams
from desktop.core.chat.tokens import TokenRecord
from desktop.core.compare.samples_stats import EntropyCurve, SampleStats, sample_stats
from desktop.core.engine import events as p
from desktop.core.engine.base import Engine
from desktop.core.engine.factory import Runnable
from desktop.core.engine.stream import follow
from desktop.core.errors import DuetError, InvalidSettings, UnexpectedError

DEFAULT_SAMPLES = 8
MIN_SAMPLES = 1
MAX_SAMPLES = 64  # 64 x 2 columns x max tokens is already minutes on a laptop
HEAD = 16  # the entropy summary's split: the opening tokens, then the rest
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """One generation of one column: its seed, text and tokens, and how it ended. `reason` is
    None and `error` says why when the generation failed."""

    seed: int
    text: str
    tokens: tuple[TokenRecord, ...]
    reason: p.StopReason | None
    error: str | None = None
    stats: p.Stats | None = None

    @property
    def token_ids(self) -> list[int]:
        return [t.token_id for t in self.tokens]

    @property
    def entropies(self) -> list[float | None]:
        return [t.entropy for t in self.tokens]

    @property
    def cancelled(self) -> bool:
        return self.reason is p.StopReason.CANCELLED

    def describe(self) -> str:
        """How it ended, in words: "max tokens reached", or the error."""
        if self.error is not None:
            return f"failed: {self.error}"
        return self.reason.describe() if self.reason is not None else "not finished"


def column_stats(samples: Sequence[Sample]) -> SampleStats:
    """A column's statistics over its complete samples: one the user stopped midway says
    nothing about where the model would have ended, so it is left out (a failed one counts, as
    sample_stats says, as a sample that did not end by itself)."""
    complete = [s for s in samples if not s.cancelled]
    entropies = [s.entropies for s in complete]
    known = any(e is not None for sample in entropies for e in sample)
    return sample_stats(
        [s.token_ids for s in complete],
        [s.reason for s in complete],
        entropies if known else (),
    )


@dataclass(frozen=True)
class SampleColumn:
    """One column's samples: its model, mode and exact prompt, the samples in seed order, and
    the error that stopped the column early, if any."""

    model: Runnable
    mode: Mode
    prompt: RenderedPrompt
    samples: tuple[Sample, ...] = ()
    error: str | None = None

    @property
    def stats(self) -> SampleStats:
        return column_stats(self.samples)

    @property
    def label(self) -> str:
        return f"{self.model.id} ({self.mode})"


@dataclass(frozen=True)
class SamplesPlan:
    """What a run will do: the input, each column's model, mode and prompt, the sampling
    settings with the first seed `sampling.seed` (never None: recorded), and how many samples."""

    input: str
    system: str | None
    sampling: SamplingParams
    count: int
    columns: tuple[SampleColumn, ...]

    @property
    def seeds(self) -> range:
        first = self.sampling.seed if self.sampling.seed is not None else 0
        return range(first, first + self.count)


@dataclass(frozen=True)
class SampleRun:
    """A finished run (or a stopped one: `cancelled`, with the samples it got)."""

    plan: SamplesPlan
    columns: tuple[SampleColumn, ...]
    cancelled: bool = False
    seconds: float = 0.0
    created: float = field(default_factory=time.time)

    @property
    def seeds(self) -> range:
        return self.plan.seeds


def greedy_note(sampling: SamplingParams) -> str | None:
    """Why every sample would come out the same, or None. Greedy decoding (temperature 0, or
    top-k 1) always takes the likeliest token, whatever the seed."""
    if sampling.temperature > 0 and sampling.top_k != 1:
        return None
    setting = "Temperature is 0" if sampling.temperature <= 0 else "Top-k is 1"
    return (
        f"{setting}: the model always takes its likeliest token, so every sample will be the "
        "same. Set a temperature above 0 (0.8 is llama.cpp's default) and top-k above 1 to see "
        "how the samples vary."
    )


def check_count(count: int) -> int:
    if not MIN_SAMPLES <= count <= MAX_SAMPLES:
        raise InvalidSettings(
            f"The number of samples must be between {MIN_SAMPLES} and {MAX_SAMPLES}, not {count}."
        )
    return count


def plan_samples(
    input: str,
    system: str | None,
    columns: Sequence[tuple[Runnable, Mode, RenderedPrompt]],
    sampling: SamplingParams,
    count: int = DEFAULT_SAMPLES,
    rng: random.Random | None = None,
) -> SamplesPlan:
    """A run of `count` samples per column. The first seed is the settings' own, or a random
    one when it is None (recorded in the plan, so the run can be repeated); seeds go up by one
    from it and must all be valid seeds. InvalidSettings says what to change."""
    check_count(count)
    if not columns:
        raise InvalidSettings("There is no column to sample: add a model.")
    sampling = sampling.validated()
    last_first = MAX_SEED - count + 1  # the highest first seed whose run still fits
    if sampling.seed is None:
        sampling = replace(sampling, seed=(rng or random.SystemRandom()).randint(0, last_first))
    elif sampling.seed > last_first:
        raise InvalidSettings(
            f"{count} samples use the seeds {sampling.seed} to {sampling.seed + count - 1}, but "
            f"the highest seed is {MAX_SEED}: choose a seed of at most {last_first}."
        )
    return SamplesPlan(
        input,
        system,
        sampling,
        count,
        tuple(SampleColumn(model, mode, prompt) for model, mode, prompt in columns),
    )


OnSample = Callable[[int, int, Sample], None]  # column index, sample index, the sample


class SamplesJob:
    """Runs a plan on one engine per column; `cancel` (from any thread) stops every column: the
    running samples end as cancelled and no further sample starts."""

    def __init__(self, engines: Sequence[Engine], on_sample: OnSample | None = None) -> None:
        self.engines = list(engines)
        self.on_sample = on_sample
        self._stop = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def cancel(self) -> None:
        self._stop.set()
        for engine in self.engines:
            engine.cancel()

    def run(self, plan: SamplesPlan) -> SampleRun:
        """Every column at once, each on its own thread; blocks until all have ended."""
        if len(self.engines) != len(plan.columns):
            raise InvalidSettings(
                f"{len(plan.columns)} columns but {len(self.engines)} engines: one engine each."
            )
        started = time.perf_counter()
        results: list[SampleColumn] = list(plan.columns)

        def one(index: int) -> None:
            results[index] = self._column(index, plan)

        threads = [
            threading.Thread(target=one, args=(i,), daemon=True, name=f"samples-{i}")
            for i in range(len(plan.columns))
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:  # Ctrl+C in the CLI: stop the columns before going on up
            self.cancel()
            for thread in threads:
                thread.join(timeout=30)
            raise
        return SampleRun(plan, tuple(results), self.cancelled, time.perf_counter() - started)

    def _column(self, index: int, plan: SamplesPlan) -> SampleColumn:
        column, engine = plan.columns[index], self.engines[index]
        samples: list[Sample] = []
        error: str | None = None
        for number, seed in enumerate(plan.seeds):
            if self._stop.is_set():
                break
            sample = self._sample(engine, column.prompt, replace(plan.sampling, seed=seed))
            samples.append(sample)
            self._tell(index, number, sample)
            if sample.error is not None:
                # What failed one sample (a prompt too long, a missing file, a crash) would fail
                # the next the same way: the column stops here and says why.
                error = sample.error
                break
        return replace(column, samples=tuple(samples), error=error)

    def _tell(self, index: int, number: int, sample: Sample) -> None:
        if self.on_sample is None:
            return
        try:
            self.on_sample(index, number, sample)
        except Exception:  # a display that failed must not lose the run's samples
            _log.exception("A samples listener failed")

    def _sample(self, engine: Engine, prompt: RenderedPrompt, sampling: SamplingParams) -> Sample:
        tokens: list[TokenRecord] = []
        text: list[str] = []
        seed = sampling.seed if sampling.seed is not None else 0

        def token(event: p.Token) -> None:
            text.append(event.text)
            if event.token_id >= 0:
                tokens.append(TokenRecord.of(event))
            if self._stop.is_set():
                # A cancel that reached the engine between two samples is not kept by it: say
                # it again now that this one runs.
                engine.cancel()

        try:
            # Log-probabilities bring each token's entropy; no alternatives are needed here.
            done = follow(engine.generate(prompt, sampling, 0, logprobs=True), on_token=token)
        except Exception as exc:  # one column's failure must not leave the run waiting
            error = exc if isinstance(exc, DuetError) else UnexpectedError.wrapping(exc)
            return Sample(seed, "".join(text), tuple(tokens), None, str(error))
        return Sample(seed, done.text, tuple(tokens), done.reason, None, done.stats)


# Summaries for a line of text ----------------------------------------------------------------


def entropy_split(curve: EntropyCurve, head: int = HEAD) -> tuple[float | None, float | None]:
    """The mean entropy over the first `head` positions and over the rest, every known value
    of every sample weighing the same (a position few samples reach weighs little)."""

    def pooled(start: int, stop: int | None) -> float | None:
        pairs = [
            (m * n, n)
            for m, n in zip(curve.mean[start:stop], curve.samples[start:stop], strict=True)
            if m is not None and n
        ]
        count = sum(n for _, n in pairs)
        return sum(total for total, _ in pairs) / count if count else None

    return pooled(0, head), pooled(head, None)


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(curve: EntropyCurve, width: int = 32, top: float | None = None) -> str:
    """The entropy curve in `width` characters, each the mean of its stretch of positions, from
    ▁ (0) to █ (`top`, by default the curve's highest); a space where nothing is known."""
    values = list(curve.mean)
    if not values:
        return ""
    known = [v for v in values if v is not None and math.isfinite(v)]
    ceiling = top if top is not None else max(known, default=0.0)
    cells = min(width, len(values))
    line = []
    for cell in range(cells):
        stretch = values[cell * len(values) // cells : (cell + 1) * len(values) // cells]
        seen = [v for v in stretch if v is not None and math.isfinite(v)]
        if not seen:
            line.append(" ")
            continue
        level = sum(seen) / len(seen) / ceiling if ceiling > 0 else 0.0
        line.append(SPARKS[min(len(SPARKS) - 1, max(0, round(level * (len(SPARKS) - 1))))])
    return "".join(line)
