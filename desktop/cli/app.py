"""`duet` alone opens the window; `duet self-test` checks that both starter models load and
generate, in raw and in chat mode."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from desktop.core.chat.prompts import Mode
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine.factory import local_config, open_engine, render_input
from desktop.core.engine.stream import follow
from desktop.core.errors import DuetError
from desktop.core.models.library import Library
from desktop.core.models.starter import require_starter_paths


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


def cmd_self_test(args: argparse.Namespace) -> int:
    """Both starter models, one raw and one chat generation; exit 0 only if all is well."""
    started = time.perf_counter()
    base_path, instruct_path = require_starter_paths()
    library = Library()
    checks: list[tuple[str, bool, str]] = []
    sampling = SamplingParams(temperature=0.0, max_tokens=24, seed=0)
    cases: tuple[tuple[Path, Mode, str], ...] = (
        (base_path, "raw", "The capital of France is"),
        (instruct_path, "chat", "What is the capital of France?"),
    )
    for path, mode, text in cases:
        model = library.describe(path, "starter")
        name = f"{path.name} ({mode})"
        try:
            engine = open_engine(model, local_config(args.ctx, args.threads, args.gpu_layers))
            try:
                info = engine.load()
                done = follow(engine.generate(render_input(model, mode, text, None), sampling))
            finally:
                engine.close()
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
