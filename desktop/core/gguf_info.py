"""What a GGUF file is, read from its header without loading any weights.

The `gguf` package gives the format's tables (quantization block sizes, file types). Its `GGUFReader` is not used for reading: it builds an object per array element, and
Gemma 3's 262,144-entry vocabulary takes it about 20 s. This reader walks the header with
`struct.unpack_from` over a memory map and keeps only what Duet shows, in well under a second.

A file that is not GGUF, empty or truncated raises `ModelLoadError` naming the file and what is
wrong, so llama.cpp never sees it: a GGML assert on a bad file would kill the process it is in.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from desktop.core.errors import ModelLoadError

_GGUF_MAGIC = b"GGUF"
_SUPPORTED_VERSIONS = (2, 3)
# Arrays up to this length are kept (tags, languages); longer ones (vocabularies, merges) are
# skipped and only their length is recorded.
_SMALL_ARRAY = 64
# GGUF value types (the format's numbering, as in gguf.GGUFValueType).
_STRING, _ARRAY = 8, 9
_SCALAR_FORMATS: dict[int, str] = {
    0: "<B",  # UINT8
    1: "<b",  # INT8
    2: "<H",  # UINT16
    3: "<h",  # INT16
    4: "<I",  # UINT32
    5: "<i",  # INT32
    6: "<f",  # FLOAT32
    7: "<?",  # BOOL
    10: "<Q",  # UINT64
    11: "<q",  # INT64
    12: "<d",  # FLOAT64
}
_DEFAULT_ALIGNMENT = 32


@cache
def _gguf() -> Any:
    """The gguf package, for its quantization tables. Imported on first use: it pulls in
    NumPy and its reader and writer, a seventh of a second the window should not wait for."""
    import gguf

    return gguf


# llama.cpp's defaults when a file does not say whether BOS is added (llama-vocab.cpp):
# SentencePiece and WordPiece vocabularies add it, byte-level BPE ones do not, except Llama 3's.
_ADD_BOS_BY_TOKENIZER = {"llama": True, "bert": True, "gpt2": False, "t5": False, "rwkv": False}
_BPE_PRE_WITH_BOS = {"llama3", "llama-bpe", "llama-v3"}


@dataclass(frozen=True)
class ArrayInfo:
    """A long metadata array, summarised: its element type and length."""

    element_type: str
    length: int


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    file_size: int
    architecture: str
    name: str
    size_label: str
    quantization: str
    context_length: int
    chat_template: str | None
    bos_token_id: int | None
    eos_token_id: int | None
    bos_token: str | None
    eos_token: str | None
    add_bos: bool
    tokenizer_model: str
    vocab_size: int
    parameter_count: int
    tags: tuple[str, ...] = ()
    finetune: str = ""
    block_count: int = 0
    embedding_length: int = 0
    head_count: int = 0
    head_count_kv: int = 0
    key_length: int = 0
    value_length: int = 0
    metadata: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template and self.chat_template.strip())

    def kv_bytes_per_token(self, bytes_per_value: int = 2) -> int:
        """K and V cache for one token of context (f16 by default), for RAM estimates."""
        return (
            self.block_count
            * self.head_count_kv
            * (self.key_length + self.value_length)
            * bytes_per_value
        )


class _Cursor:
    """Little-endian reads from a memory map; running off the end means the file is cut short."""

    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf = buf
        self.pos = 0
        self.path = path
        self.size = len(buf)

    def _advance(self, width: int) -> int:
        """The current position, moving past `width` bytes that must be in the file."""
        if self.pos + width > self.size:
            raise _truncated(self.path, "its header ends early")
        self.pos += width
        return self.pos - width

    def unpack(self, fmt: str) -> object:
        (value,) = struct.unpack_from(fmt, self.buf, self._advance(struct.calcsize(fmt)))
        return value

    def u32(self) -> int:
        value: int = struct.unpack_from("<I", self.buf, self._advance(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack_from("<Q", self.buf, self._advance(8))[0]
        return value

    def string(self) -> str:
        length = self.u64()
        if self.pos + length > self.size:
            raise _truncated(self.path, "its header ends early")
        raw = self.buf[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        if self.pos + 8 > self.size:
            raise _truncated(self.path, "its header ends early")
        (length,) = struct.unpack_from("<Q", self.buf, self.pos)
        self.pos += 8 + length
        if self.pos > self.size:
            raise _truncated(self.path, "its header ends early")


def _truncated(path: Path, what: str) -> ModelLoadError:
    return ModelLoadError(
        f"{path} is truncated: {what}. The download was probably interrupted: download it again."
    )


def read_model_info(path: str | Path) -> ModelInfo:
    """Read a GGUF file's metadata. Raises ModelLoadError for anything that is not a whole GGUF."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelLoadError(f"{path} does not exist.") from None
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    if path.is_dir():
        raise ModelLoadError(f"{path} is a folder, not a GGUF model file.")
    if size == 0:
        raise ModelLoadError(f"{path} is empty (0 bytes): it is not a model. Download it again.")
    try:
        with (
            path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf,
        ):
            return _parse(_Cursor(buf, path), size)
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read: {exc.strerror or exc}.") from None


def _parse(cur: _Cursor, size: int) -> ModelInfo:
    path = cur.path
    magic = bytes(cur.buf[:4])
    if magic != _GGUF_MAGIC:
        raise ModelLoadError(
            f"{path} is not a GGUF model file (it starts with {magic!r}, not b'GGUF'). "
            "Duet runs .gguf files: pick a GGUF quantization of this model."
        )
    cur.pos = 4
    version = cur.u32()
    if version not in _SUPPORTED_VERSIONS:
        raise ModelLoadError(
            f"{path} is GGUF version {version}; Duet reads versions 2 and 3. "
            "It may be corrupt, or too new for this Duet."
        )
    tensor_count = cur.u64()
    kv_count = cur.u64()
    # Every entry takes at least 8 bytes, so counts beyond that are corruption, not big models.
    if kv_count * 8 > size or tensor_count * 8 > size:
        raise ModelLoadError(f"{path} has a corrupt GGUF header (impossible entry counts).")

    scalars: dict[str, object] = {}
    arrays: dict[str, ArrayInfo] = {}
    tokens_at: int | None = None
    for _ in range(kv_count):
        key = cur.string()
        vtype = cur.u32()
        if vtype == _ARRAY:
            etype = cur.u32()
            length = cur.u64()
            if key == "tokenizer.ggml.tokens":
                tokens_at = cur.pos
            if length <= _SMALL_ARRAY:
                scalars[key] = tuple(_read_value(cur, etype) for _ in range(length))
            else:
                arrays[key] = ArrayInfo(_type_name(etype), length)
                _skip_array(cur, etype, length)
        else:
            scalars[key] = _read_value(cur, vtype)

    alignment = _as_int(scalars.get("general.alignment"), _DEFAULT_ALIGNMENT) or _DEFAULT_ALIGNMENT
    tensor_types: dict[int, int] = {}
    parameter_count = 0
    data_end = 0
    for _ in range(tensor_count):
        cur.string()  # tensor name
        n_dims = cur.u32()
        if n_dims > 8:
            raise ModelLoadError(f"{path} has a corrupt tensor table.")
        elements = 1
        for _ in range(n_dims):
            elements *= cur.u64()
        ttype = cur.u32()
        offset = cur.u64()
        parameter_count += elements
        tensor_types[ttype] = tensor_types.get(ttype, 0) + 1
        data_end = max(data_end, offset + _tensor_bytes(path, ttype, elements))
    data_start = -(-cur.pos // alignment) * alignment
    if data_start + data_end > size:
        raise _truncated(
            path, f"its tensors need {data_start + data_end:,} bytes but the file has {size:,}"
        )

    arch = str(scalars.get("general.architecture", "unknown"))
    tokenizer_model = str(scalars.get("tokenizer.ggml.model", ""))
    bos_id = _as_int(scalars.get("tokenizer.ggml.bos_token_id"), None)
    eos_id = _as_int(scalars.get("tokenizer.ggml.eos_token_id"), None)
    token_texts = _token_texts(cur, tokens_at, {i for i in (bos_id, eos_id) if i is not None})
    vocab = arrays.get("tokenizer.ggml.tokens")
    small_vocab = scalars.get("tokenizer.ggml.tokens")
    vocab_length = (
        vocab.length if vocab else len(small_vocab) if isinstance(small_vocab, tuple) else 0
    )

    def arch_int(suffix: str, default: int = 0) -> int:
        return _as_int(scalars.get(f"{arch}.{suffix}"), default) or default

    head_count = arch_int("attention.head_count")
    embedding = arch_int("embedding_length")
    head_dim = embedding // head_count if head_count else 0
    add_bos_meta = scalars.get("tokenizer.ggml.add_bos_token")
    if isinstance(add_bos_meta, bool):
        add_bos = add_bos_meta
    elif tokenizer_model == "gpt2":
        add_bos = str(scalars.get("tokenizer.ggml.pre", "")) in _BPE_PRE_WITH_BOS
    else:
        add_bos = _ADD_BOS_BY_TOKENIZER.get(tokenizer_model, False)
    template = scalars.get("tokenizer.chat_template")
    tags = scalars.get("general.tags", ())

    return ModelInfo(
        path=path,
        file_size=size,
        architecture=arch,
        name=str(scalars.get("general.name", path.stem)),
        size_label=str(scalars.get("general.size_label", "")),
        quantization=_quantization(scalars.get("general.file_type"), tensor_types),
        context_length=arch_int("context_length"),
        chat_template=template if isinstance(template, str) else None,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        bos_token=token_texts.get(bos_id) if bos_id is not None else None,
        eos_token=token_texts.get(eos_id) if eos_id is not None else None,
        add_bos=add_bos,
        tokenizer_model=tokenizer_model,
        vocab_size=arch_int("vocab_size") or vocab_length,
        parameter_count=parameter_count,
        tags=tuple(str(t) for t in tags) if isinstance(tags, tuple) else (),
        finetune=str(scalars.get("general.finetune", "")),
        block_count=arch_int("block_count"),
        embedding_length=embedding,
        head_count=head_count,
        head_count_kv=arch_int("attention.head_count_kv", head_count),
        key_length=arch_int("attention.key_length", head_dim),
        value_length=arch_int("attention.value_length", head_dim),
        metadata=MappingProxyType({**scalars, **arrays}),
    )


def _read_value(cur: _Cursor, vtype: int) -> object:
    if vtype == _STRING:
        return cur.string()
    fmt = _SCALAR_FORMATS.get(vtype)
    if fmt is None:
        raise ModelLoadError(f"{cur.path} has a corrupt GGUF header (unknown value type {vtype}).")
    return cur.unpack(fmt)


def _skip_array(cur: _Cursor, etype: int, length: int) -> None:
    if etype == _STRING:
        for _ in range(length):
            cur.skip_string()
        return
    fmt = _SCALAR_FORMATS.get(etype)
    if fmt is None:
        raise ModelLoadError(f"{cur.path} has a corrupt GGUF header (unknown array type {etype}).")
    cur.pos += struct.calcsize(fmt) * length
    if cur.pos > cur.size:
        raise _truncated(cur.path, "its header ends early")


def _token_texts(cur: _Cursor, tokens_at: int | None, wanted: set[int]) -> dict[int, str]:
    """The vocabulary entries for a few token ids (BOS, EOS), found by a second short walk."""
    if tokens_at is None or not wanted:
        return {}
    cur.pos = tokens_at
    found: dict[int, str] = {}
    last = max(wanted)
    for index in range(last + 1):
        if index in wanted:
            found[index] = cur.string()
        else:
            cur.skip_string()
    return found


def _tensor_bytes(path: Path, ttype: int, elements: int) -> int:
    gguf = _gguf()
    try:
        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ttype)]
    except (ValueError, KeyError):
        raise ModelLoadError(
            f"{path} uses tensor type {ttype}, which this Duet does not know. "
            "It may be corrupt, or need a newer Duet."
        ) from None
    return int(elements // block * type_size)


def _quantization(file_type: object, tensor_types: dict[int, int]) -> str:
    gguf = _gguf()
    if isinstance(file_type, int):
        try:
            name = str(gguf.LlamaFileType(file_type).name)
        except ValueError:
            name = ""
        if name:
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
    if tensor_types:
        most = max(tensor_types, key=lambda t: tensor_types[t])
        try:
            return str(gguf.GGMLQuantizationType(most).name)
        except ValueError:
            pass
    return "unknown"


def _type_name(vtype: int) -> str:
    try:
        return str(_gguf().GGUFValueType(vtype).name.lower())
    except ValueError:
        return f"type{vtype}"


def _as_int(value: object, default: int | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def read_metadata_prefix(data: bytes, name: str = "download") -> dict[str, object]:
    """The scalar metadata in the first bytes of a GGUF file, as far as they reach.

    Architecture keys come before the vocabulary in every converter's output, so the first
    megabytes of a remote file (an HTTP Range request) tell the KV-cache size before any
    download. Stops quietly where the bytes end; raises ModelLoadError if it is not GGUF."""
    cur = _Cursor(data, Path(name))
    if bytes(data[:4]) != _GGUF_MAGIC:
        raise ModelLoadError(f"{name} is not a GGUF model file.")
    found: dict[str, object] = {}
    try:
        cur.pos = 4
        cur.u32()
        cur.u64()
        kv_count = cur.u64()
        for _ in range(kv_count):
            key = cur.string()
            vtype = cur.u32()
            if vtype == _ARRAY:
                etype, length = cur.u32(), cur.u64()
                _skip_array(cur, etype, length)
            else:
                found[key] = _read_value(cur, vtype)
    except ModelLoadError:
        pass  # the prefix ended: keep what was read
    return found


def kv_bytes_per_token(metadata: dict[str, object], bytes_per_value: int = 2) -> int | None:
    """K and V cache per token of context from metadata scalars, or None if they are missing."""
    arch = metadata.get("general.architecture")

    def value(key: str) -> int | None:
        return _as_int(metadata.get(f"{arch}.{key}"), None)

    layers, heads, embedding = (
        value("block_count"),
        value("attention.head_count"),
        value("embedding_length"),
    )
    if not (isinstance(arch, str) and layers and heads and embedding):
        return None
    kv_heads = value("attention.head_count_kv") or heads
    head_dim = embedding // heads
    key_length = value("attention.key_length") or head_dim
    value_length = value("attention.value_length") or head_dim
    return layers * kv_heads * (key_length + value_length) * bytes_per_value
