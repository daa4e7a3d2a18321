"""The frozen build from `make package`: bundle and installer sizes, and cold start (process
start to the window shown, measured from outside the process).

    python -m bench.frozen [--rounds 5]     (under xvfb-run for a real X display)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import median

DIST = Path(__file__).resolve().parents[1] / "dist"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    binary = DIST / "duet" / "duet"
    if not binary.exists():
        raise SystemExit("run `make package` first")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(DUET_PRINT_STARTUP="1", DUET_HOME=tempfile.mkdtemp(prefix="duet-frozen-"))
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    times = []
    for _ in range(args.rounds + 1):
        started = time.perf_counter()
        child = subprocess.Popen([str(binary)], env=env, stderr=subprocess.PIPE, text=True)
        assert child.stderr is not None
        while "window shown after" not in (line := child.stderr.readline()):
            if not line:
                raise SystemExit("the frozen window did not start")
        times.append(time.perf_counter() - started)
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    times = times[1:]  # the first run warms the disk cache
    print(f"\nfrozen build ({'X display' if env.get('DISPLAY') else 'offscreen'}):")
    print(f"  bundle folder        {folder_size(DIST / 'duet') / 1e6:7.0f} MB")
    for installer in sorted(DIST.glob("duet*.deb")) + sorted(DIST.glob("duet*.tar.gz")):
        print(f"  {installer.name:<32} {installer.stat().st_size / 1e6:7.0f} MB")
    print(
        f"  cold start to window shown   median {median(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms ({args.rounds} runs)"
    )


if __name__ == "__main__":
    main()
