"""An engine worker never outlives the app that started it: killed mid-generation or in the
middle of a long prompt, the app takes its worker with it, quietly.

The app here is a real Python process that starts a real worker through EngineClient; the test
kills that process with SIGKILL, as a crash or the task manager would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="reads process states from /proc"),
]

ROOT = Path(__file__).resolve().parents[2]

# argv: model path, "generate" (many tokens) or "prompt" (one long prompt evaluation, during
# which the worker sends nothing). Prints the worker's pid, then "busy" once it is working.
APP = r"""
import sys
from pathlib import Path

from desktop.core.chat.prompts import exact
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.local.client import EngineClient
from desktop.core.engine.config import EngineConfig

path, mode = Path(sys.argv[1]), sys.argv[2]
long_prompt = mode == "prompt"
config = EngineConfig(n_ctx=2048, n_batch=2048)
engine = EngineClient(path, config)
engine.load()
print(engine.pid, flush=True)
prompt = " ".join(f"word{i}" for i in range(400)) if long_prompt else "Once upon a time"
sampling = SamplingParams(max_tokens=100_000, temperature=1.0, seed=1)
if long_prompt:
    print("busy", flush=True)  # the request goes out with the first next() below
for event in engine.generate(exact(prompt), sampling):
    if isinstance(event, p.Token) and not long_prompt:
        print("busy", flush=True)
        long_prompt = True  # say it once
"""


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped (its parent is gone, so init reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def kill_app_while_busy(model: Path, mode: str, settle: float) -> tuple[int, float, str]:
    """(worker pid, seconds from the app's death to the worker's, what both wrote to stderr)."""
    app = subprocess.Popen(
        [sys.executable, "-c", APP, str(model), mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = 0
    try:
        assert app.stdout is not None
        worker = int(app.stdout.readline())
        assert app.stdout.readline().strip() == "busy"
        time.sleep(settle)
        assert running(worker), "the worker ended before the app was killed"
        app.send_signal(signal.SIGKILL)
        app.wait(timeout=10)
        killed = time.monotonic()
        while running(worker) and time.monotonic() - killed < 30:
            time.sleep(0.05)
        lived = time.monotonic() - killed
        # The worker shares the app's stderr: it closes when the worker is gone too.
        _, stderr = app.communicate(timeout=10)
        return worker, lived, stderr
    finally:
        if app.poll() is None:
            app.kill()
        if worker and running(worker):
            os.kill(worker, signal.SIGKILL)


def test_a_worker_ends_quietly_when_its_app_is_killed_mid_generation(instruct_path: Path) -> None:
    worker, lived, stderr = kill_app_while_busy(instruct_path, "generate", settle=0.5)
    assert lived < 2.0, f"worker {worker} outlived the app by {lived:.1f} s"
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_a_worker_busy_with_a_long_prompt_ends_within_a_second_of_its_app(
    base_path: Path,
) -> None:
    # One batch of about 1,500 tokens: the worker is inside llama_decode for seconds (10-20 on
    # two busy cores) and sends nothing, so only watching its parent tells it the app is gone.
    worker, lived, stderr = kill_app_while_busy(base_path, "prompt", settle=1.0)
    assert lived < 2.0, f"worker {worker} outlived the app by {lived:.1f} s"
    assert "Traceback" not in stderr, stderr
