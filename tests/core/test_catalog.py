from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.errors import CatalogError
from desktop.core.models.catalog import load_catalog, load_default_catalog, parse_catalog

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
