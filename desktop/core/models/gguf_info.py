"""What a GGUF file is, read from its header without loading any weights.

The `gguf` package gives the format's tables (quantization block sizes, file types). Its
`GGUFReader` is not used for reading: it builds an object per array element, and Gemma 3's
262,144-entry vocabulary takes it about 20 s. This reader walks the header with
`struct.unpack_from` over a buffer of plain file reads and keeps only what Duet shows, in well
under a second.

A model file is untrusted input, and the window reads every installed one. So:
- It is read with ordinary reads, never a memory map: a file cut short while it is read (a
  download being replaced, a full disk) is a truncated file, not a SIGBUS that kills Duet.
- What one header may cost is capped (entries, strings walked, tensors, bytes, text decoded).
  Real models stay far below the caps; a header beyond one is refused from its counts, before
  the work.
- Only the keys Duet uses are kept, plus a short summary of the first entries, so memory does
  not grow with the header.

A file that is not GGUF, empty, truncated or over a cap raises `ModelLoadError` naming the file
and what is wrong, so llama.cpp never sees it: a GGML assert on a bad file would kill the
process it is in.
"""

from __future__ import annotations

import io
import os
import re
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
_SCALARS = {vtype: struct.Struct(fmt) for vtype, fmt in _SCALAR_FORMATS.items()}
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")
_DEFAULT_ALIGNMENT = 32
# A split model's part: "<stem>-00002-of-00003.gguf". llama.cpp opens the others through the first.
SPLIT_PART = re.compile(r"-(\d{5})-of-\d{5}\.gguf$", re.IGNORECASE)


def is_later_split_part(name: str) -> bool:
    """True for the second and later parts of a split model: list only the first."""
    match = SPLIT_PART.search(name)
    return match is not None and match.group(1) != "00001"


# What one header may cost. Real models stay far below: tens of metadata entries, at most a
# few hundred thousand vocabulary and merge strings (Gemma 3: 262,144 tokens), a few thousand
# tensors, a header of a few megabytes. Walking strings and tensor entries one by one is the
# work that grows with a file, so those counts are what bound the time.
MAX_ENTRIES = 16_384  # metadata key/value pairs
MAX_STRINGS = 2_000_000  # strings in all metadata arrays together
MAX_TENSORS = 65_536
MAX_HEADER_BYTES = 128 * 2**20  # metadata and tensor table
MAX_KEPT_STRING = 2**20  # a value Duet keeps: the chat template is the longest
# Bytes of text decoded from one header (keys, kept values, summary prefixes, BOS/EOS texts):
# what the strings Duet keeps may cost together, so many long ones cannot add up. Real models
# decode tens of kilobytes.
MAX_DECODED_BYTES = 4 * 2**20
MAX_KEY = 65_535  # the format's own limit on key length
_READ_CHUNK = 2**20
_SUMMARY_ENTRIES = 256  # entries shown in ModelInfo.metadata
_MAX_KEPT = 256  # architecture entries kept (a real file has about ten)
_ARCH_KEY_LENGTH = 128
_ARCH_TEXT = 256  # bytes of an architecture string value kept; longer ones are skipped
_SUMMARY_TEXT = 256  # characters of a string kept in the summary

# The keys Duet reads, and the architecture keys ("llama.context_length") by their suffix.
_KEPT = frozenset(
    {
        "general.architecture",
        "general.name",
        "general.size_label",
        "general.file_type",
        "general.alignment",
        "general.tags",
        "general.finetune",
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.add_bos_token",
        "tokenizer.chat_template",
    }
)
_ARCH_KEPT = frozenset(
    {
        "context_length",
        "embedding_length",
        "block_count",
        "vocab_size",
        "attention.head_count",
        "attention.head_count_kv",
        "attention.key_length",
        "attention.value_length",
    }
)
_TOKENS_KEY = "tokenizer.ggml.tokens"
# Where the vocabulary walk notes its position, so BOS/EOS texts are found without a second
# walk of the whole vocabulary.
_CHECKPOINT_EVERY = 4096


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
    # The file's first entries, for display: long strings cut, arrays as ArrayInfo.
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


class _Reader:
    """Little-endian reads from a file or bytes through a buffer refilled by plain reads.

    A read past the end of the file, or of what the file still holds, is a truncated file; a
    read past MAX_HEADER_BYTES is a header over its cap. Skipping moves the position without
    reading, so long strings and numeric arrays cost nothing."""

    def __init__(self, stream: io.RawIOBase | io.BufferedIOBase, path: Path, size: int) -> None:
        self.stream = stream
        self.path = path
        self.size = size
        self.buf = b""
        self.base = 0  # file offset of buf[0]
        self.off = 0  # read position in buf; may run past it after a skip
        self.strings = 0  # strings walked in arrays, against MAX_STRINGS
        self.decoded = 0  # bytes of text decoded, against MAX_DECODED_BYTES

    @property
    def pos(self) -> int:
        return self.base + self.off

    def seek(self, pos: int) -> None:
        self.off = pos - self.base

    def _need(self, width: int) -> None:
        """Make `width` bytes available at buf[off:]."""
        if self.off >= 0 and self.off + width <= len(self.buf):
            return
        at = self.base + self.off
        if at + width > self.size:
            raise _truncated(self.path, "its header ends early")
        if at + width > MAX_HEADER_BYTES:
            raise _over_limit(
                self.path, "its header is longer than the limit, in bytes", MAX_HEADER_BYTES
            )
        self.stream.seek(at)
        data = self.stream.read(max(width, _READ_CHUNK)) or b""
        if len(data) < width:  # the file shrank after it was measured
            raise _truncated(self.path, "it ended while it was read")
        self.buf, self.base, self.off = data, at, 0

    def bytes(self, length: int) -> bytes:
        self._need(length)
        self.off += length
        return self.buf[self.off - length : self.off]

    def u32(self) -> int:
        self._need(4)
        self.off += 4
        value: int = _U32.unpack_from(self.buf, self.off - 4)[0]
        return value

    def u64(self) -> int:
        self._need(8)
        self.off += 8
        value: int = _U64.unpack_from(self.buf, self.off - 8)[0]
        return value

    def scalar(self, vtype: int) -> object:
        unpacker = _SCALARS.get(vtype)
        if unpacker is None:
            raise ModelLoadError(
                f"{self.path} has a corrupt GGUF header (unknown value type {vtype})."
            )
        self._need(unpacker.size)
        self.off += unpacker.size
        return unpacker.unpack_from(self.buf, self.off - unpacker.size)[0]

    def string(self, limit: int = MAX_KEPT_STRING) -> str:
        length = self.u64()
        if length > limit:
            self._check_room(length)  # a cut file says so before a cap does
            raise _over_limit(self.path, f"a text of {length:,} bytes is over the limit", limit)
        return self._decode(length)

    def prefix(self, keep: int) -> str:
        """A string's first `keep` bytes, skipping the rest."""
        length = self.u64()
        text = self._decode(min(length, keep))
        self.skip(length - min(length, keep))
        return text

    def short_string(self, limit: int) -> str | None:
        """A string up to `limit` bytes; a longer one is skipped without decoding (None)."""
        length = self.u64()
        if length > limit:
            self.skip(length)
            return None
        return self._decode(length)

    def _decode(self, length: int) -> str:
        """The next `length` bytes as text, counted against MAX_DECODED_BYTES first."""
        self.decoded += length
        if self.decoded > MAX_DECODED_BYTES:
            self._check_room(length)  # a cut file says so before a cap does
            raise _over_limit(
                self.path,
                f"the texts Duet reads from its header add up to over {self.decoded:,} bytes",
                MAX_DECODED_BYTES,
            )
        return self.bytes(length).decode("utf-8", errors="replace")

    def skip(self, length: int) -> None:
        self._check_room(length)
        self.off += length

    def _check_room(self, length: int) -> None:
        if self.pos + length > self.size:
            raise _truncated(self.path, "its header ends early")

    def reserve_strings(self, count: int) -> None:
        """Count `count` strings about to be walked against MAX_STRINGS, before walking them."""
        self.strings += count
        if self.strings > MAX_STRINGS:
            raise _over_limit(
                self.path, f"its metadata arrays hold {self.strings:,} strings", MAX_STRINGS
            )
        if count * 8 > self.size - self.pos:  # each takes at least its 8-byte length
            raise _truncated(self.path, "its header ends early")

    def skip_strings(self, count: int) -> None:
        """Walk past `count` strings reserved before: the one part of a header whose cost grows
        with the file."""
        buf, off, end = self.buf, self.off, len(self.buf)
        unpack = _U64.unpack_from
        for _ in range(count):
            if off < 0 or off + 8 > end:
                self.off = off
                self._need(8)
                buf, off, end = self.buf, self.off, len(self.buf)
            off += 8 + unpack(buf, off)[0]
        self.off = off
        self._check_room(0)


def _truncated(path: Path, what: str) -> ModelLoadError:
    return ModelLoadError(
        f"{path} is truncated: {what}. The download was probably interrupted: download it again."
    )


def _over_limit(path: Path, what: str, limit: int) -> ModelLoadError:
    return ModelLoadError(
        f"{path} was not read: {what} (the limit is {limit:,}). Real models stay far below it, "
        "so the file is damaged or was made to overload programs that read it. "
        "Delete it, or download the model again from a source you trust."
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
        with path.open("rb", buffering=0) as handle:
            info = _parse(_Reader(handle, path, size))
            # Cut after its header was read: the tensors it names are gone.
            if os.fstat(handle.fileno()).st_size < size:
                raise _truncated(path, "it shrank while it was read")
            return info
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    except MemoryError:  # a last net: the caps should leave nothing this large
        raise ModelLoadError(
            f"{path} was not read: its header needs more memory than this computer has free. "
            "The file is damaged or was made to overload programs that read it: delete it."
        ) from None


@dataclass
class _Entries:
    """What the metadata walk keeps: the values Duet uses, array lengths and a short summary."""

    kept: dict[str, object] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    # (index, file offset) every _CHECKPOINT_EVERY vocabulary entries
    token_checkpoints: list[tuple[int, int]] = field(default_factory=list)


def _check_magic(cur: _Reader, name: object) -> None:
    magic = cur.bytes(4) if cur.size >= 4 else b""
    if magic != _GGUF_MAGIC:
        raise ModelLoadError(
            f"{name} is not a GGUF model file (it starts with {magic!r}, not b'GGUF'). "
            "Duet runs .gguf files: pick a GGUF quantization of this model."
        )


def _parse(cur: _Reader) -> ModelInfo:
    path, size = cur.path, cur.size
    _check_magic(cur, path)
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
    if kv_count > MAX_ENTRIES:
        raise _over_limit(path, f"its header has {kv_count:,} metadata entries", MAX_ENTRIES)
    if tensor_count > MAX_TENSORS:
        raise _over_limit(path, f"its header lists {tensor_count:,} tensors", MAX_TENSORS)

    entries = _Entries()
    _read_entries(cur, kv_count, entries, summarise=True)
    scalars = entries.kept
    alignment = _as_int(scalars.get("general.alignment"), _DEFAULT_ALIGNMENT) or 0
    if alignment <= 0:
        alignment = _DEFAULT_ALIGNMENT
    parameter_count, tensor_types, data_end = _read_tensors(cur, tensor_count)
    data_start = -(-cur.pos // alignment) * alignment
    if data_start + data_end > size:
        raise _truncated(
            path, f"its tensors need {data_start + data_end:,} bytes but the file has {size:,}"
        )

    arch = str(scalars.get("general.architecture", "unknown"))
    tokenizer_model = str(scalars.get("tokenizer.ggml.model", ""))
    bos_id = _as_int(scalars.get("tokenizer.ggml.bos_token_id"), None)
    eos_id = _as_int(scalars.get("tokenizer.ggml.eos_token_id"), None)
    token_texts = _token_texts(cur, entries, {i for i in (bos_id, eos_id) if i is not None})
    small_vocab = scalars.get(_TOKENS_KEY)
    vocab_length = entries.lengths.get(
        _TOKENS_KEY, len(small_vocab) if isinstance(small_vocab, tuple) else 0
    )

    def arch_int(suffix: str, default: int = 0) -> int:
        # Counts and lengths: a negative one would make the memory estimates negative.
        return _as_count(scalars.get(f"{arch}.{suffix}")) or default

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
        metadata=MappingProxyType(entries.summary),
    )


def _wanted(key: str, entries: _Entries) -> bool:
    """Whether Duet keeps this entry: one of its keys, or one of a few architecture keys."""
    if key in _KEPT:
        return True
    # Architecture names are short; a real file has one architecture's keys, a few of them.
    return (
        len(key) <= _ARCH_KEY_LENGTH
        and key.partition(".")[2] in _ARCH_KEPT
        and len(entries.kept) < _MAX_KEPT
    )


def _read_entries(cur: _Reader, kv_count: int, entries: _Entries, summarise: bool) -> None:
    """Walk the metadata into `entries` (filled as it goes: a prefix keeps what it reached)."""
    for index in range(kv_count):
        key = cur.string(MAX_KEY)
        vtype = cur.u32()
        keep = _wanted(key, entries)
        if keep and key in entries.kept:  # llama.cpp refuses such a file too
            raise ModelLoadError(f"{cur.path} has a corrupt GGUF header (the key {key} twice).")
        # Architecture values Duet reads are numbers: keep scalars and short strings only.
        arch = keep and key not in _KEPT
        shown = summarise and index < _SUMMARY_ENTRIES
        if arch and vtype == _STRING:
            text = cur.short_string(_ARCH_TEXT)
            if text is not None:
                entries.kept[key] = text
            if shown:
                entries.summary[key] = "…" if text is None else _shorten(text)
        elif vtype == _ARRAY:
            etype, length = cur.u32(), cur.u64()
            if keep and not arch and length <= _SMALL_ARRAY:
                if etype == _STRING:
                    cur.reserve_strings(length)
                values = tuple(_read_element(cur, etype) for _ in range(length))
                entries.kept[key] = values
                if shown:
                    entries.summary[key] = tuple(_shorten(v) for v in values)
                continue
            entries.lengths[key] = length
            if shown:
                entries.summary[key] = ArrayInfo(_type_name(etype), length)
            if key == _TOKENS_KEY and etype == _STRING:
                _skip_vocabulary(cur, length, entries)
            else:
                _skip_array(cur, etype, length)
        elif keep:
            value = _read_value(cur, vtype)
            entries.kept[key] = value
            if shown:
                entries.summary[key] = _shorten(value)
        elif shown and vtype == _STRING:
            entries.summary[key] = _shorten(cur.prefix(_SUMMARY_TEXT + 1))
        elif shown:
            entries.summary[key] = _read_value(cur, vtype)
        else:
            _skip_value(cur, vtype)


def _shorten(value: object) -> object:
    if isinstance(value, str) and len(value) > _SUMMARY_TEXT:
        return value[:_SUMMARY_TEXT] + "…"
    return value


def _read_value(cur: _Reader, vtype: int) -> object:
    if vtype == _STRING:
        return cur.string()
    return cur.scalar(vtype)


def _read_element(cur: _Reader, etype: int) -> object:
    """An element of a short array Duet keeps (tags): a string is cut to _SUMMARY_TEXT."""
    if etype == _STRING:
        return _shorten(cur.prefix(_SUMMARY_TEXT + 1))
    return cur.scalar(etype)


def _skip_value(cur: _Reader, vtype: int) -> None:
    if vtype == _STRING:
        cur.skip(cur.u64())
    else:
        cur.scalar(vtype)


def _skip_array(cur: _Reader, etype: int, length: int) -> None:
    if etype == _STRING:
        cur.reserve_strings(length)
        cur.skip_strings(length)
        return
    unpacker = _SCALARS.get(etype)
    if unpacker is None:
        raise ModelLoadError(f"{cur.path} has a corrupt GGUF header (unknown array type {etype}).")
    cur.skip(unpacker.size * length)


def _skip_vocabulary(cur: _Reader, length: int, entries: _Entries) -> None:
    """Skip the vocabulary, noting where every _CHECKPOINT_EVERY-th token starts."""
    cur.reserve_strings(length)
    done = 0
    while done < length:
        entries.token_checkpoints.append((done, cur.pos))
        step = min(_CHECKPOINT_EVERY, length - done)
        cur.skip_strings(step)
        done += step


def _token_texts(cur: _Reader, entries: _Entries, wanted: set[int]) -> dict[int, str]:
    """The vocabulary entries for a few token ids (BOS, EOS), from the nearest checkpoint."""
    length = entries.lengths.get(_TOKENS_KEY, 0)
    found: dict[int, str] = {}
    small = entries.kept.get(_TOKENS_KEY)
    for token_id in wanted:
        if isinstance(small, tuple) and 0 <= token_id < len(small):
            found[token_id] = str(small[token_id])
        elif 0 <= token_id < length and entries.token_checkpoints:
            index, offset = entries.token_checkpoints[token_id // _CHECKPOINT_EVERY]
            cur.seek(offset)
            for _ in range(token_id - index):
                cur.skip(cur.u64())
            found[token_id] = cur.string()
    return found


def _read_tensors(cur: _Reader, tensor_count: int) -> tuple[int, dict[int, int], int]:
    """(parameter count, tensors per type, end of the tensor data relative to its start)."""
    tensor_types: dict[int, int] = {}
    sizes: dict[int, tuple[int, int]] = {}
    parameter_count = 0
    data_end = 0
    for _ in range(tensor_count):
        cur.skip(cur.u64())  # tensor name
        n_dims = cur.u32()
        if n_dims > 8:
            raise ModelLoadError(f"{cur.path} has a corrupt tensor table.")
        elements = 1
        for _ in range(n_dims):
            elements *= cur.u64()
        ttype = cur.u32()
        offset = cur.u64()
        parameter_count += elements
        tensor_types[ttype] = tensor_types.get(ttype, 0) + 1
        if ttype not in sizes:
            sizes[ttype] = _block_size(cur.path, ttype)
        block, type_size = sizes[ttype]
        data_end = max(data_end, offset + elements // block * type_size)
    return parameter_count, tensor_types, data_end


def _block_size(path: Path, ttype: int) -> tuple[int, int]:
    """(elements per block, bytes per block) of a tensor type."""
    gguf = _gguf()
    try:
        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ttype)]
    except (ValueError, KeyError):
        raise ModelLoadError(
            f"{path} uses tensor type {ttype}, which this Duet does not know. "
            "It may be corrupt, or need a newer Duet."
        ) from None
    return int(block), int(type_size)


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


def _as_count(value: object) -> int | None:
    """A count or a length from the header: a whole number above zero, else None."""
    number = _as_int(value, None)
    return number if number is not None and number > 0 else None


def read_metadata_prefix(data: bytes, name: str = "download") -> dict[str, object]:
    """The metadata Duet uses from the first bytes of a GGUF file, as far as they reach.

    Architecture keys come before the vocabulary in every converter's output, so the first
    megabytes of a remote file (an HTTP Range request) tell the KV-cache size before any
    download. Stops quietly where the bytes end; raises ModelLoadError if it is not GGUF."""
    cur = _Reader(io.BytesIO(data), Path(name), len(data))
    _check_magic(cur, name)
    entries = _Entries()
    try:
        cur.u32()
        cur.u64()
        _read_entries(cur, min(cur.u64(), MAX_ENTRIES), entries, summarise=False)
    except ModelLoadError:
        pass  # the prefix ended: keep what was read
    return dict(entries.kept)


def kv_bytes_per_token(metadata: dict[str, object], bytes_per_value: int = 2) -> int | None:
    """K and V cache per token of context from metadata scalars, or None if they are missing."""
    arch = metadata.get("general.architecture")

    def value(key: str) -> int | None:
        return _as_count(metadata.get(f"{arch}.{key}"))

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
