"""Scripts that run one hostile input in a fresh interpreter and print what it cost as JSON:
the seconds spent, the growth of the peak RSS over what the imports took, and the outcome."""

from __future__ import annotations

import textwrap

_PEAK_MB = textwrap.dedent(
    """
    import json, resource, sys, time

    def peak_mb():
        # VmHWM: this process's own peak. ru_maxrss would start at the parent's peak after exec.
        try:
            with open("/proc/self/status") as status:
                line = next(l for l in status if l.startswith("VmHWM:"))
            return int(line.split()[1]) / 1024
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    """
)


def measured_script(setup: str, attempt: str) -> str:
    """`setup` runs before measuring (imports); `attempt` runs measured and sets `outcome`."""
    return (
        _PEAK_MB
        + textwrap.dedent(setup)
        + "\nbefore = peak_mb()\nstart = time.perf_counter()\n"
        + textwrap.dedent(attempt)
        + textwrap.dedent(
            """
            seconds = time.perf_counter() - start
            grown = peak_mb() - before
            print(json.dumps({"seconds": seconds, "extra_mb": grown, "outcome": outcome}))
            """
        )
    )
