"""Small GGUF files for header-level tests, written with the gguf package's own writer."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np


def write_gguf(
    path: Path,
    *,
    name: str = "Tiny",
    chat_template: str | None = None,
    finetune: str | None = None,
    tags: tuple[str, ...] = (),
    tokens: tuple[str, ...] = ("<unk>", "<s>", "</s>", "a", "b"),
) -> Path:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(256)
    writer.add_embedding_length(8)
    writer.add_block_count(1)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    if finetune:
        writer.add_finetune(finetune)
    if tags:
        writer.add_tags(list(tags))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(list(tokens))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.add_tensor("token_embd.weight", np.ones((len(tokens), 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# Hand-written GGUF files ------------------------------------------------------------------------
# The gguf writer builds Python objects per entry, too slow for the hundreds of megabytes a hostile
# header takes; these write the format directly, bulk parts with NumPy.

_HEADER = np.dtype([("magic", "S4"), ("version", "<u4"), ("tensors", "<u8"), ("kvs", "<u8")])
HOSTILE_SIZE = 250 * 2**20


def _string(text: bytes) -> bytes:
    return np.uint64(len(text)).tobytes() + text


def kv_string(key: str, value: bytes) -> bytes:
    return _string(key.encode()) + np.uint32(8).tobytes() + _string(value)


def kv_u32(key: str, value: int) -> bytes:
    return _string(key.encode()) + np.uint32(4).tobytes() + np.uint32(value).tobytes()


def kv_string_array_head(key: str, count: int) -> bytes:
    """A string array's key and element count; its elements follow."""
    return (
        _string(key.encode())
        + np.uint32(9).tobytes()
        + np.uint32(8).tobytes()
        + np.uint64(count).tobytes()
    )


def header(tensors: int, kvs: int) -> bytes:
    return np.array([(b"GGUF", 3, tensors, kvs)], dtype=_HEADER).tobytes()


def fixed_strings(count: int, width: int) -> bytes:
    """`count` strings of `width` bytes ("0000000001", ...), as a string array's elements."""
    records = np.zeros(count, dtype=[("length", "<u8"), ("text", f"S{width}")])
    records["length"] = width
    digits = np.arange(count, dtype=np.uint64)[:, None] // (
        10 ** np.arange(width - 1, -1, -1, dtype=np.uint64)
    )
    records["text"] = (b"0"[0] + digits % 10).astype(np.uint8).view(f"S{width}").ravel()
    return records.tobytes()


def one_tensor(offset_aligned_from: int) -> bytes:
    """One 4-byte F32 tensor's table entry, the padding to 32 and its data."""
    entry = _string(b"t") + np.uint32(1).tobytes() + np.uint64(1).tobytes()
    entry += np.uint32(0).tobytes() + np.uint64(0).tobytes()
    end = offset_aligned_from + len(entry)
    return entry + b"\0" * (-end % 32) + b"\0" * 4


def write_vocabulary_gguf(path: Path, tokens: int) -> Path:
    """A small llama-like header with a vocabulary of `tokens` 10-byte strings and one tensor."""
    kvs = [
        kv_string("general.architecture", b"llama"),
        kv_string("tokenizer.ggml.model", b"llama"),
        kv_u32("tokenizer.ggml.bos_token_id", 1),
        kv_u32("tokenizer.ggml.eos_token_id", tokens - 1),
    ]
    head = (
        header(1, len(kvs) + 1)
        + b"".join(kvs)
        + kv_string_array_head("tokenizer.ggml.tokens", tokens)
    )
    body = fixed_strings(tokens, 10)
    with path.open("wb") as out:
        out.write(head)
        out.write(body)
        out.write(one_tensor(len(head) + len(body)))
    return path


def write_hostile_gguf(path: Path, shape: str, size: int = HOSTILE_SIZE) -> Path:
    """A GGUF file of about `size` bytes whose header is made to cost a reader time or memory:

    many_keys: millions of distinct small metadata entries; many_strings: one array of tens of
    millions of empty strings; many_arrays: many arrays of a million strings each; many_tensors:
    millions of tensor entries; long_template: one chat template of `size` bytes."""
    with path.open("wb") as out:
        if shape == "many_keys":
            count = size // 19
            records = np.zeros(
                count, dtype=[("length", "<u8"), ("key", "S6"), ("type", "<u4"), ("value", "u1")]
            )
            records["length"] = 6
            nibbles = np.arange(count, dtype=np.uint32)[:, None] >> (
                4 * np.arange(5, -1, -1, dtype=np.uint32)
            )
            hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles & 15]
            records["key"] = hex_digits.view("S6").ravel()
            out.write(header(0, count))
            out.write(records.tobytes())
        elif shape == "many_strings":
            count = size // 8
            out.write(header(0, 1) + kv_string_array_head("tokenizer.ggml.tokens", count))
            out.write(np.zeros(count, dtype="<u8").tobytes())
        elif shape == "many_arrays":
            per_array = 1_000_000
            arrays = size // (8 * per_array)
            out.write(header(0, arrays))
            empty = np.zeros(per_array, dtype="<u8").tobytes()
            for index in range(arrays):
                out.write(kv_string_array_head(f"x.list{index}", per_array))
                out.write(empty)
        elif shape == "many_tensors":
            count = size // 33
            records = np.zeros(
                count,
                dtype=[
                    ("length", "<u8"),
                    ("name", "S1"),
                    ("dims", "<u4"),
                    ("dim0", "<u8"),
                    ("type", "<u4"),
                    ("offset", "<u8"),
                ],
            )
            records["length"], records["name"], records["dims"], records["dim0"] = 1, b"t", 1, 1
            out.write(header(count, 0))
            out.write(records.tobytes())
            out.write(b"\0" * 64)
        elif shape == "long_template":
            out.write(header(0, 2) + kv_string("general.architecture", b"llama"))
            out.write(_string(b"tokenizer.chat_template") + np.uint32(8).tobytes())
            out.write(np.uint64(size).tobytes())
            out.write(b"{{ 'x' }}" * (size // 9) + b" " * (size % 9))
        else:
            raise ValueError(shape)
        out.write(b"\0" * (-out.tell() % 32))  # tensor data starts aligned, even when empty
    return path
