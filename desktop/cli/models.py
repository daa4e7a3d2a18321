"""`duet models`, `search`, `pull` and `rm`: the installed models, the Hub's GGUF repositories,
a download with its progress bar (or one after the other for a catalog pair or ladder), and
deleting a download."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from desktop.cli.output import ProgressBar, fail, terminal_safe
from desktop.core.errors import DuetError, HubError
from desktop.core.models.catalog import CatalogModel
from desktop.core.models.library import Library
from desktop.core.models.memory import ModelNeed, set_estimate

if TYPE_CHECKING:  # the Hub's modules load huggingface_hub: only the Hub commands import them
    from desktop.core.hub.pending import PullTarget


def cmd_models(_: argparse.Namespace) -> int:
    library = Library()
    models = library.models()
    if not models:
        print("No models installed. The offline starter pair installs with `make run`.")
    else:
        print(f"{'ID':<28} {'KIND':<9} {'QUANT':<8} {'SIZE':>9} {'CONTEXT':>8}  SOURCE")
        for m in models:
            size = f"{m.info.file_size / 1e6:,.0f} MB"
            print(
                f"{m.id:<28} {m.kind:<9} {m.info.quantization:<8} {size:>9} {m.info.context_length:>8}  {m.source}"
            )
    for problem in library.problems:
        print(f"skipped {problem.path}: {problem.message}", file=sys.stderr)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from desktop.core.hub.api import search

    repos = search(args.query, limit=max(1, min(args.limit, 100)))
    if not repos:
        print(f"No GGUF repositories match '{args.query}'.")
        return 0
    print(f"{'REPOSITORY':<56} {'KIND':<9} {'DOWNLOADS':>10}")
    for repo in repos:
        gated = "  (gated)" if repo.gated else ""
        print(f"{repo.repo_id:<56} {repo.kind:<9} {repo.downloads:>10,}{gated}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from desktop.core.hub.api import estimate_ram
    from desktop.core.hub.pull import pull, resolve

    library = Library()
    members = library.catalog.members(args.spec.strip())
    if members is not None and len(members) > 1:
        return _pull_group(args.spec.strip(), members, library, args.allow_unverified)
    target = resolve(args.spec, library.catalog)
    ram = estimate_ram(target.size, n_ctx=4096, kv_per_token=_kv_per_token(target))
    parts = f" in {len(target.parts)} parts" if len(target.parts) > 1 else ""
    print(
        f"{target.repo_id} · {target.filename}{parts} · {target.quant} · {target.size / 1e6:,.0f} MB · "
        f"memory at 4k context: {ram.fit} (about {ram.total / 1e9:.1f} of {ram.machine / 1e9:.0f} GB"
        f"{'' if ram.exact_kv else ', KV cache estimated'})",
        file=sys.stderr,
    )
    bar = ProgressBar()
    try:
        path, fetched = pull(target, progress=bar.update, allow_unverified=args.allow_unverified)
    except KeyboardInterrupt:
        bar.end()
        fail("stopped. Run the same command again to continue where it stopped.")
        return 130
    bar.end()
    model = next((m for m in library.models() if m.path == path), None)
    name = model.id if model is not None else path.name
    how = "already downloaded" if fetched == 0 else f"downloaded {fetched / 1e6:,.0f} MB"
    checked = "sha256 verified where the Hub publishes one" if args.allow_unverified else ""
    print(f"{name}: {how}, {checked or 'sha256 verified'} · {path}", file=sys.stderr)
    return 0


def _pull_group(
    group_id: str, members: Sequence[CatalogModel], library: Library, allow_unverified: bool
) -> int:
    """A catalog pair or ladder: whether its models fit in memory at once, then each one in
    turn. A stop or a failure says how far it got; the same command goes on from there (the
    models already downloaded are found, the one cut short resumes)."""
    from desktop.core.hub import pull as hub_pull
    from desktop.core.hub.pending import PullTarget

    targets = [PullTarget(m.repo_id, (m.filename,), m.size, m.quant) for m in members]
    needs = [
        ModelNeed(m.id, t.size, _kv_per_token(t)) for m, t in zip(members, targets, strict=True)
    ]
    total = sum(t.size for t in targets)
    estimate = set_estimate(needs, n_ctx=4096)
    print(
        f"{group_id}: {len(members)} models, {total / 1e6:,.0f} MB in all. {estimate.sentence}",
        file=sys.stderr,
    )
    for number, (model, target) in enumerate(zip(members, targets, strict=True), start=1):
        where = f"{model.id} ({number} of {len(members)})"
        print(
            f"[{number}/{len(members)}] {model.id}: {target.repo_id} · {target.filename} · "
            f"{target.quant} · {target.size / 1e6:,.0f} MB",
            file=sys.stderr,
        )
        bar = ProgressBar()
        try:
            path, fetched = hub_pull.pull(
                target, progress=bar.update, allow_unverified=allow_unverified
            )
        except KeyboardInterrupt:
            bar.end()
            fail(f"stopped at {where}. Run the same command again to continue where it stopped.")
            return 130
        except DuetError as exc:
            bar.end()
            raise type(exc)(
                f"{where}: {exc} {number - 1} of {len(members)} downloaded; "
                "run the same command again once that is fixed."
            ) from None
        bar.end()
        how = "already downloaded" if fetched == 0 else f"downloaded {fetched / 1e6:,.0f} MB"
        checked = "sha256 verified where the Hub publishes one" if allow_unverified else ""
        print(f"{model.id}: {how}, {checked or 'sha256 verified'} · {path}", file=sys.stderr)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    library = Library()
    model = library.resolve(args.name)
    if not args.yes:
        if sys.stdin is None or not sys.stdin.isatty():
            raise DuetError(
                f"Deleting {model.id} needs confirmation: run it in a terminal, or add --yes."
            )
        question = f"Delete {model.id} ({model.info.file_size / 1e6:,.0f} MB, {model.path})? [y/N] "
        try:
            answer = input(terminal_safe(question))  # input() writes to the terminal itself
        except EOFError:  # Ctrl+D: no answer is no
            answer = ""
            print()
        if answer.strip().lower() not in ("y", "yes"):
            print("Kept.")
            return 0
    print(library.remove(model))
    return 0


def _kv_per_token(target: PullTarget) -> int | None:
    """The model's real KV-cache size per token, from its header (None if it cannot be read)."""
    from desktop.core.hub.api import HubFile, remote_kv_per_token

    file = HubFile(target.repo_id, target.filename, target.parts, target.size, None, target.quant)
    try:
        return remote_kv_per_token(file)
    except HubError:
        return None  # the estimate falls back to a guess; the download says what is wrong
