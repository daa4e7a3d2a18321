"""Window benchmarks, with the real window and the real starter models:

- UI stall: the largest gap between ticks of a 5 ms QTimer while 500 tokens stream in;
- cold start: process start to the window shown (median of several fresh processes);
- tokens/s in the window against the same generation through the engine alone.

    python -m bench.ui [--rounds 5]

Uses the X display if there is one (run it under xvfb-run for a real one), else offscreen.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time

from bench.common import median, warn_if_busy
from desktop.core.chat.prompts import exact

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

N_TOKENS = 500
DOC = "Chapter One\n\nThe rain had not stopped for three days when"


def _wait(app: object, condition: object, timeout: float = 120.0) -> None:
    end = time.perf_counter() + timeout
    while not condition() and time.perf_counter() < end:  # type: ignore[operator]
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.001)
    if not condition():  # type: ignore[operator]
        raise SystemExit("timed out waiting for the window")


def stall_and_throughput(rounds: int) -> None:
    from PySide6.QtCore import QTimer

    from desktop.core.chat.sampling import SamplingParams
    from desktop.core.compare.run import TOP_K
    from desktop.core.engine import events as p
    from desktop.core.engine.local.client import EngineClient
    from desktop.core.settings import AppSettings, save_settings
    from desktop.ui.app import make_app

    sampling = SamplingParams(max_tokens=N_TOKENS, seed=11, repeat_penalty=1.1, temperature=0.7)
    # welcomed: a returning user's window, on the notebook rather than the welcome page.
    save_settings(
        AppSettings(sampling=sampling, mode="raw", model_id="gemma-3-270m", welcomed=True)
    )
    app = make_app()
    from desktop.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    _wait(app, lambda: window.runtime is not None)
    assert window.model is not None
    alone = EngineClient(window.model.path, window.settings.engine_config())
    alone.load()
    gaps, window_rates, window_ui_rates, engine_rates = [], [], [], []
    for _ in range(rounds + 1):  # window and engine alone alternate, round by round
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(lambda ticks=ticks: ticks.append(time.perf_counter()))
        done: list[p.Done] = []
        arrivals: list[tuple[float, int]] = []
        window.raw_view.set_text(DOC)
        timer.start()
        window.continue_raw()
        thread = window.generation
        assert thread is not None
        thread.done.connect(done.append)
        thread.batch.connect(
            lambda b, arrivals=arrivals: arrivals.append((time.perf_counter(), len(b.tokens)))
        )
        _wait(app, lambda: not window.busy)
        timer.stop()
        first, last = arrivals[0][0], arrivals[-1][0]
        streamed = [t for t in ticks if first <= t <= last]
        gaps.append(max((b - a for a, b in itertools.pairwise(streamed)), default=0.0))
        window_rates.append(done[0].stats.tokens_per_second)
        window_ui_rates.append((sum(n for _, n in arrivals) - arrivals[0][1]) / (last - first))
        # The same request the window makes: with the top-5 alternatives for the hover charts.
        for event in alone.generate(
            exact("<bos>" + DOC), sampling, top_k_probs=TOP_K, logprobs=True
        ):
            if isinstance(event, p.Done):
                engine_rates.append(event.stats.tokens_per_second)
    alone.close()
    window.close()
    # The first round warms both up.
    gaps, window_rates, window_ui_rates, engine_rates = (
        gaps[1:],
        window_rates[1:],
        window_ui_rates[1:],
        engine_rates[1:],
    )
    print(f"\nwindow streaming {N_TOKENS} tokens (gemma-3-270m, raw), {rounds} rounds:")
    print(
        f"  UI stall: largest gap between 5 ms ticks   median {median(gaps) * 1000:6.1f} ms   worst {max(gaps) * 1000:6.1f} ms"
    )
    print(f"  tokens/s, engine alone                     {median(engine_rates):6.1f}")
    print(
        f"  tokens/s, in the window                    {median(window_rates):6.1f}   (as the window receives them: {median(window_ui_rates):.1f})"
    )
    print(
        f"  window / engine alone                      {median(window_rates) / median(engine_rates):6.3f}"
    )


COLD_CHILD = """
import time, sys
from desktop.ui.app import make_app
app = make_app()
from desktop.ui.main_window import MainWindow
w = MainWindow()
w.show()
from PySide6.QtCore import QTimer
def shown():
    print("shown", flush=True)
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def cold_start(rounds: int) -> None:
    times = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", COLD_CHILD], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - started
        proc.wait()
        if line.strip() == "shown":
            times.append(elapsed)
    times = times[1:]
    print(f"\ncold start, process start to window shown, {len(times)} runs:")
    print(f"  median {median(times) * 1000:6.0f} ms   worst {max(times) * 1000:6.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    warn_if_busy()
    print(
        f"Qt platform: {os.environ.get('QT_QPA_PLATFORM') or 'xcb on ' + os.environ.get('DISPLAY', '')}"
    )
    cold_start(args.rounds)
    stall_and_throughput(args.rounds)


if __name__ == "__main__":
    main()
