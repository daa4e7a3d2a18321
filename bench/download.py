"""Download throughput: Duet's downloader against curl, the same 1 GiB file from the same local
server (the tests' fake Hub on 127.0.0.1), alternated over several rounds.

Duet's figure includes what it does that curl does not: the sha256 of every byte, the Range
bookkeeping and the move into the Hugging Face cache. Each round's rates are printed, and the
CPU seconds each client spent per GiB (user + system): on loopback the server, the client and
Duet's hash thread share the machine's cores, so the CPU time says what a rate alone does not.
It also prints how fast sha256 runs on one core here, the work Duet adds: on a virtual machine
that rate moves with the host's load (1.39-1.61 GB/s on the same 2-core VM), and the ratio with it.

    python -m bench.download [--rounds 5] [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import CACHE, median, warn_if_busy

_HASH_BLOCK = 256 * 1024  # the size of Duet's reads

_SERVE = """
import sys
from pathlib import Path
from tests.fakehub import FakeHub
fake = FakeHub()
fake.add_repo("bench/Big-GGUF", {"big.gguf": Path(sys.argv[1])})
print(fake.url, flush=True)
sys.stdin.read()
fake.close()
"""


def make_file(size: int) -> Path:
    path = CACHE / f"download-bench-{size}.bin"
    if not path.exists() or path.stat().st_size != size:
        CACHE.mkdir(parents=True, exist_ok=True)
        block = os.urandom(4 << 20)
        with path.open("wb") as out:
            for _ in range(size // len(block)):
                out.write(block)
            out.write(block[: size % len(block)])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    source = make_file(size)
    # The server runs in a process of its own, as it would for curl: in this process its
    # sendfile thread would share the interpreter with the download being measured.
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(source)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    fake_url = server.stdout.readline().strip()
    os.environ["HF_ENDPOINT"] = fake_url
    os.environ.pop("HF_HUB_OFFLINE", None)
    from desktop.core.hub.download import download  # after HF_ENDPOINT is set

    warn_if_busy()
    hash_rate = _sha256_rate()
    duet_rates: list[float] = []
    curl_rates: list[float] = []
    cpu: dict[str, list[float]] = {"duet": [], "curl": []}
    url = f"{fake_url}/cdn/bench/Big-GGUF/big.gguf"
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        for r in range(args.rounds):
            for which in ("duet", "curl") if r % 2 == 0 else ("curl", "duet"):
                target = Path(scratch) / f"{which}-{r}"
                who = resource.RUSAGE_CHILDREN if which == "curl" else resource.RUSAGE_SELF
                before = _cpu_seconds(who)
                started = time.perf_counter()
                if which == "curl":
                    subprocess.run(["curl", "-sS", "-L", "-o", str(target), url], check=True)
                    curl_rates.append(size / (time.perf_counter() - started))
                else:
                    os.environ["HF_HUB_CACHE"] = str(target)
                    got = download("bench/Big-GGUF", "big.gguf")
                    duet_rates.append(size / (time.perf_counter() - started))
                    assert got.size == size
                cpu[which].append((_cpu_seconds(who) - before) / (size / 2**30))
                shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink()
    server.communicate("", timeout=30)  # end of stdin: the server closes
    duet, curl = median(duet_rates), median(curl_rates)
    print(f"\n{args.size_mib} MiB from a local server, {args.rounds} rounds, medians:")
    print(f"  Duet (with sha256 and cache move)  {duet / 1e6:8.1f} MB/s")
    print(f"  curl                               {curl / 1e6:8.1f} MB/s")
    print(f"  Duet / curl                        {duet / curl:8.3f}")
    print("CPU seconds per GiB (user + system), medians:")
    print(f"  Duet {median(cpu['duet']):5.2f}   curl {median(cpu['curl']):5.2f}")
    print(
        f"sha256 on one core of this machine: {hash_rate / 1e9:.2f} GB/s (Duet hashes, curl does not)"
    )
    print("Each round, MB/s:")
    print("  Duet " + " ".join(f"{rate / 1e6:6.0f}" for rate in duet_rates))
    print("  curl " + " ".join(f"{rate / 1e6:6.0f}" for rate in curl_rates))


def _sha256_rate(seconds: float = 1.0) -> float:
    """Bytes per second sha256 hashes on one core here: it varies from host to host, and with
    the host's load, and it bounds how close Duet can come to curl on a 2-core machine."""
    block, hasher, done = os.urandom(_HASH_BLOCK), hashlib.sha256(), 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        hasher.update(block)
        done += len(block)
    return done / (time.perf_counter() - started)


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
