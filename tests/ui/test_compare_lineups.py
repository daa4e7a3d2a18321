"""Line-ups in the real compare window: a ladder of four stages (the starter files standing in
for the stages) run side by side or one column at a time as memory says, its neighbouring
stages scored against each other; a base model aligned by examples beside its instruct model;
and the memory line that says how the columns will run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QAction

from desktop.core.chat.aligned import ALIGNED_STOP, ALIGNED_TEMPLATE_NAME
from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.lineups import EXAMPLES_SUFFIX, MAX_COLUMNS, lineup_named
from desktop.core.compare.run import compare_config
from desktop.core.engine import events as p
from desktop.core.engine.factory import open_engine
from desktop.core.models import memory
from desktop.core.models.catalog import Catalog
from desktop.core.models.library import InstalledModel, Library
from desktop.core.settings import AppSettings
from desktop.ui.compare.window import CompareWindow
from desktop.ui.main_window import MainWindow
from tests.engine_watch import watching_opener
from tests.standin_ladder import LADDER_ID, STAGES, standin_ladder
from tests.ui.conftest import open_compare

RUN_MS = 240_000


@pytest.fixture
def ladder(
    starter_paths: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Catalog, list[InstalledModel]]]:
    """A four-stage ladder whose stages are the starter files, found by the real library in a
    Hugging Face cache as `duet pull t-ladder` would leave them."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    catalog = standin_ladder(tmp_path / "hub", starter_paths)
    models = Library(catalog=catalog).models()
    assert {f"t-{name}" for name, _ in STAGES} <= {m.id for m in models}
    yield catalog, models


def _compare(qtbot, catalog: Catalog, models: list[InstalledModel], opener=open_engine):  # type: ignore[no-untyped-def]
    sampling = SamplingParams(max_tokens=8, seed=3, temperature=0.0)
    compare = CompareWindow(
        models,
        AppSettings(sampling=sampling, n_ctx=1024),
        (models[0].id, models[1].id),
        open_engine=opener,
        catalog=catalog,
    )
    qtbot.addWidget(compare)
    compare.show()
    return compare


def apply_ladder(compare: CompareWindow, catalog: Catalog, models: list[InstalledModel]) -> None:
    """The stand-in ladder's line-up, applied."""
    lineup = lineup_named(catalog, {m.id for m in models}, LADDER_ID)
    assert lineup is not None and compare.apply_lineup(lineup)


def ladder_window(qtbot, ladder: tuple[Catalog, list[InstalledModel]], opener=open_engine):  # type: ignore[no-untyped-def]
    """The compare window with the stand-in ladder's line-up applied."""
    catalog, models = ladder
    compare = _compare(qtbot, catalog, models, opener)
    apply_ladder(compare, catalog, models)
    return compare


def _menu_action(compare: CompareWindow, title: str) -> QAction:
    compare.fill_lineups()
    found = [a for a in compare.lineup_menu.actions() if a.text() == title]
    assert len(found) == 1, [a.text() for a in compare.lineup_menu.actions()]
    return found[0]


def _run(compare: CompareWindow, qtbot, text: str = "Name a colour.") -> None:  # type: ignore[no-untyped-def]
    compare.input.setPlainText(text)
    compare.run()
    qtbot.waitUntil(lambda: compare.busy, timeout=5_000)
    qtbot.waitUntil(lambda: not compare.busy, timeout=RUN_MS)


def test_a_ladder_runs_its_four_stages_side_by_side_and_neighbours_score_each_other(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, models = ladder
    monkeypatch.setattr(memory, "machine_memory", lambda: 64 * 1024**3)
    compare = _compare(qtbot, catalog, models)
    action = _menu_action(compare, "Test ladder: base → SFT → DPO → Instruct")
    assert action.isEnabled()
    action.trigger()
    assert MAX_COLUMNS == 4
    assert [c.model.id for c in compare.columns] == [f"t-{name}" for name, _ in STAGES]
    assert [c.stage.text() for c in compare.columns] == [stage for _, stage in STAGES]
    assert all(c.stage.isVisible() for c in compare.columns)
    assert not compare.add_action.isEnabled()  # four is the most
    # Four small models fit in 64 GiB at once, and the window says so before Run.
    assert compare.memory.text().startswith("All 4 fit in memory at once at 1,024 tokens")
    assert not compare.plan().one_at_a_time
    _run(compare, qtbot)
    for view in compare.columns:
        assert view.column is not None and view.column.done is not None, view.column
        assert view.column.text
    # The base stage's text ranked by the next stage's model (SFT): the shift view between
    # neighbouring stages.
    compare.score(0)
    qtbot.waitUntil(lambda: not compare.busy, timeout=RUN_MS)
    shift = compare.columns[0].column.shift  # type: ignore[union-attr]
    assert shift is not None and shift.scorer == "t-sft"
    assert compare.columns[0].shift.isVisible()


def test_a_ladder_too_big_for_memory_at_once_runs_stage_by_stage(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]], monkeypatch: pytest.MonkeyPatch
) -> None:
    opener, log, engines = watching_opener()
    compare = ladder_window(qtbot, ladder, opener)
    # A machine where each stage fits alone but no two do at any context.
    biggest = max(e.total for e in compare.plan().estimate.models)  # type: ignore[union-attr]
    monkeypatch.setattr(memory, "machine_memory", lambda: int(biggest / 0.85) + 1)
    compare._update_plan()
    assert "run them one after the other" in compare.memory.text()
    assert compare.plan().one_at_a_time
    _run(compare, qtbot)
    assert all(v.column is not None and v.column.done is not None for v in compare.columns)
    # Each stage started with no other model loaded: the one before was freed first.
    assert len(log) == 4 and all(not any(alive) for _, alive in log), log
    # One worker thread each would waste a core: alone, a stage gets them all.
    assert {e.config.n_threads for e in engines} == {compare_config(1).n_threads}  # type: ignore[attr-defined]


def test_stop_during_a_run_one_at_a_time_ends_the_columns_still_waiting(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]]
) -> None:
    compare = ladder_window(qtbot, ladder)
    compare.one_at_a_time.setChecked(True)
    assert compare.memory.text().startswith("One column at a time, as chosen")
    compare.settings = AppSettings(sampling=SamplingParams(max_tokens=400, seed=3), n_ctx=1024)
    compare.input.setPlainText("Once upon a time")
    compare.run()
    qtbot.waitUntil(lambda: bool(compare.columns[0].view.tokens), timeout=RUN_MS)
    compare.stop()
    qtbot.waitUntil(lambda: not compare.busy, timeout=30_000)
    assert compare.columns[0].column.done is not None  # type: ignore[union-attr]
    for view in compare.columns[1:]:
        assert view.column is not None and view.column.error == "Stopped before this column's turn."
        assert "Stopped before this column's turn." in view.stats.text()
    assert compare.run_action.isEnabled()  # the window is free again


def test_the_base_plus_examples_line_up_aligns_the_base_model_in_the_window(
    window: MainWindow, qtbot
) -> None:
    compare = open_compare(window, qtbot, max_tokens=200)
    title = next(x.title for x in compare.lineups_now() if x.id == "starter" + EXAMPLES_SUFFIX)
    _menu_action(compare, title).trigger()
    base, instruct = compare.columns
    assert base.aligned and base.examples.isVisible() and base.examples.isChecked()
    assert not instruct.examples.isVisible()  # an instruct model keeps its own template
    _run(compare, qtbot, "Name three primary colours.")
    assert base.column is not None and instruct.column is not None
    assert base.column.prompt.template_name == ALIGNED_TEMPLATE_NAME
    assert base.column.prompt.stop == ALIGNED_STOP
    assert base.template.text() == ALIGNED_TEMPLATE_NAME  # said above the column
    assert instruct.column.prompt.template_name != ALIGNED_TEMPLATE_NAME
    done = base.column.done
    assert done is not None and done.reason == p.StopReason.STOP_STRING, done
    assert "# Query:" not in base.column.text
    # Raw mode has no chat to align: the option is off there, and the run is plain again.
    base.mode.set_mode("raw")
    assert not base.examples.isEnabled() and not base.aligned


def test_a_ladder_not_installed_is_offered_disabled_with_what_to_pull(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]]
) -> None:
    catalog, models = ladder
    fewer = [m for m in models if m.id != "t-dpo"]
    compare = _compare(qtbot, catalog, fewer)
    action = _menu_action(compare, "Test ladder: base → SFT → DPO → Instruct")
    assert not action.isEnabled()
    assert "t-dpo" in action.toolTip() and "duet pull t-ladder" in action.toolTip()
    before = [c.model.id for c in compare.columns]
    assert not compare.apply_lineup(lineup_named(catalog, {m.id for m in fewer}, "t-ladder"))  # type: ignore[arg-type]
    assert [c.model.id for c in compare.columns] == before
    assert "t-dpo" in compare.divergence.text()


def test_a_stage_name_leaves_with_its_model_and_examples_hold_through_a_run(
    qtbot, ladder: tuple[Catalog, list[InstalledModel]]
) -> None:
    compare = ladder_window(qtbot, ladder)
    sft = compare.columns[1]
    assert sft.stage.text() == "SFT" and sft.stage.isVisible()
    sft.picker.choose("t-dpo")  # another model is not the SFT stage
    assert not sft.stage.isVisible() and sft.stage.text() == ""
    base = compare.columns[0]
    base.set_aligned(True)
    assert base.aligned
    base.set_busy(True)  # during a run the option is locked, and still what the run uses
    assert base.aligned and not base.examples.isEnabled()
    base.set_busy(False)
    assert base.aligned and base.examples.isEnabled()
