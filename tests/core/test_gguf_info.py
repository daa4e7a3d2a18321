from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop.core.errors import ModelLoadError
from desktop.core.models.gguf_info import read_model_info
from tests.ggufs import write_gguf


def test_gemma_base_metadata(base_path: Path) -> None:
    info = read_model_info(base_path)
    assert info.architecture == "gemma3"
    assert info.size_label == "270M"
    assert info.quantization == "Q4_K_M"
    assert info.context_length == 32768
    assert not info.has_chat_template
    assert (info.bos_token, info.eos_token, info.add_bos) == ("<bos>", "<eos>", True)
    assert info.vocab_size == 262144
    assert info.file_size == 253113024


def test_smollm2_instruct_metadata(instruct_path: Path) -> None:
    info = read_model_info(instruct_path)
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert info.context_length == 8192
    assert info.has_chat_template and "<|im_start|>" in (info.chat_template or "")
    assert (info.bos_token, info.eos_token, info.add_bos) == ("<|im_start|>", "<|im_end|>", False)
    assert info.kv_bytes_per_token() == 30 * 3 * (64 + 64) * 2


def test_small_arrays_are_kept(tmp_path: Path) -> None:
    info = read_model_info(write_gguf(tmp_path / "t.gguf", tags=("x", "y")))
    assert info.tags == ("x", "y")
    assert info.vocab_size == 5
    assert info.quantization == "F32"


def _damaged(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("empty", "is empty"),
        ("wrong_magic", "is not a GGUF model file"),
        ("random", "is not a GGUF model file"),
        ("header_cut", "is truncated"),
        ("tensors_cut", "is truncated"),
    ],
)
def test_damaged_files_name_the_file_and_the_problem(
    tmp_path: Path, instruct_path: Path, case: str, expected: str
) -> None:
    with instruct_path.open("rb") as handle:
        head = handle.read(4 << 20)
    data = {
        "empty": b"",
        "wrong_magic": b"GGML" + head[4:4096],
        "random": os.urandom(100_000),
        "header_cut": head[:200_000],  # inside the vocabulary
        "tensors_cut": head,  # a whole header, 4 MB of a 98 MB file
    }[case]
    path = _damaged(tmp_path, f"{case}.gguf", data)
    with pytest.raises(ModelLoadError) as err:
        read_model_info(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        read_model_info(tmp_path / "nope.gguf")
    with pytest.raises(ModelLoadError, match="is a folder"):
        read_model_info(tmp_path)


def test_every_truncation_point_is_a_model_load_error(tmp_path: Path) -> None:
    whole = write_gguf(
        tmp_path / "whole.gguf", chat_template="{{ messages }}", tags=("a",)
    ).read_bytes()
    cut = tmp_path / "cut.gguf"
    for length in range(1, len(whole)):
        cut.write_bytes(whole[:length])
        with pytest.raises(ModelLoadError):
            read_model_info(cut)


def test_metadata_from_the_first_bytes_of_a_remote_file(base_path: Path) -> None:
    from desktop.core.models.gguf_info import kv_bytes_per_token, read_metadata_prefix

    with base_path.open("rb") as handle:
        prefix = handle.read(64 * 1024)  # ends inside Gemma's 262k-token vocabulary
    metadata = read_metadata_prefix(prefix)
    assert metadata["general.architecture"] == "gemma3"
    assert kv_bytes_per_token(metadata) == read_model_info(base_path).kv_bytes_per_token()


def test_value_type_numbers_match_the_gguf_package() -> None:
    import gguf

    from desktop.core.models import gguf_info

    assert (gguf_info._STRING, gguf_info._ARRAY) == (
        gguf.GGUFValueType.STRING,
        gguf.GGUFValueType.ARRAY,
    )
    for number, fmt in gguf_info._SCALAR_FORMATS.items():
        assert gguf.GGUFValueType(number).name.lower().rstrip("0123456789") in {
            "uint",
            "int",
            "float",
            "bool",
        }
        assert fmt.startswith("<")
    assert gguf_info._DEFAULT_ALIGNMENT == gguf.GGUF_DEFAULT_ALIGNMENT
