"""A four-stage ladder whose stages are the starter files (base, instruct, base, instruct), laid
out in a Hugging Face cache as `duet pull` leaves a real ladder: for the tests and screenshots
of the ladder compare view, since no real ladder's GGUFs can be fetched offline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from desktop.core.models.catalog import Catalog, parse_catalog

LADDER_ID = "t-ladder"
FAMILY = "Test ladder"
STAGES = (("base", "base"), ("sft", "SFT"), ("dpo", "DPO"), ("instruct", "Instruct"))


def standin_ladder(cache: Path, starter_paths: tuple[Path, Path]) -> Catalog:
    """Lay the stages out in `cache` (point HF_HUB_CACHE at it) and return their catalog."""
    entries = []
    for number, (name, stage) in enumerate(STAGES, start=1):
        snapshot = cache / f"models--duet-test--t-{name}-GGUF" / "snapshots" / ("0" * 40)
        snapshot.mkdir(parents=True, exist_ok=True)
        target = snapshot / f"t-{name}.Q4_K_M.gguf"
        if not target.exists():
            try:
                os.link(starter_paths[(number - 1) % 2], target)  # the same bytes, no copy
            except OSError:
                shutil.copyfile(starter_paths[(number - 1) % 2], target)
        entries.append(
            f"""
[[model]]
id = "t-{name}"
family = "{FAMILY}"
kind = "{"base" if number == 1 else "instruct"}"
ladder = "{LADDER_ID}"
stage = {number}
stage_name = "{stage}"
repo_id = "duet-test/t-{name}-GGUF"
filename = "t-{name}.Q4_K_M.gguf"
quant = "Q4_K_M"
size = 100000000
license = "apache-2.0"
gated = false
"""
        )
    return parse_catalog("".join(entries), Path("stand-in ladder"))
