"""The Hugging Face Hub, through huggingface_hub: search GGUF repositories, list their files
with size and sha256, tell base from instruct, and estimate whether a file fits in memory.

Every call reads HF_ENDPOINT and HF_HUB_OFFLINE when it is made (huggingface_hub reads them
once, at import), and offline mode refuses before any connection is opened. Errors become
one plain HubError each, with the next step.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx2
from huggingface_hub import (
    HfApi,
    ModelInfo,
    constants,
    errors,
    get_hf_file_metadata,
    get_session,
    hf_hub_url,
)
from huggingface_hub.utils._headers import build_hf_headers
from huggingface_hub.utils._http import hf_raise_for_status, http_backoff

from desktop.core import errors as duet_errors
from desktop.core.models.catalog import ModelKind
from desktop.core.models.gguf_info import kv_bytes_per_token, read_metadata_prefix

# The memory estimate lives with the models (Qt-free, Hub-free); these names stay importable
# from here for the callers that read them as part of the Hub's answers.
from desktop.core.models.memory import Fit as Fit
from desktop.core.models.memory import RamEstimate as RamEstimate
from desktop.core.models.memory import estimate_ram as estimate_ram
from desktop.core.models.memory import machine_memory as machine_memory

_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(I?Q[1-8](?:_[0-9])?(?:_[A-Z]+)*|F16|BF16|F32|MXFP4)(?![A-Za-z0-9])", re.I
)
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$")
_INSTRUCT = re.compile(r"(instruct|chat|(^|[-_./ ])it($|[-_./ ])|sft|dpo|rlhf)", re.I)
_BASE = re.compile(r"(^|[-_./ ])(base|pretrained|pt)($|[-_./ ])", re.I)
# Architecture keys come before the tokenizer's arrays; half a megabyte holds them in every
# converter's output seen (Gemma 3's first 100 KB do).
_HEADER_PREFIX = 512 * 1024
_CONNECT_TIMEOUT = 5.0
_NAME_MAX = 255  # bytes in one path component: the limit of ext4, APFS, NTFS (in characters)
_reachable: dict[tuple[str, int], float] = {}
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubRepo:
    repo_id: str
    downloads: int
    likes: int
    kind: ModelKind
    kind_reason: str
    gated: bool


@dataclass(frozen=True)
class HubFile:
    """One GGUF model in a repository: a single file, or the parts of a split one."""

    repo_id: str
    filename: str  # the first part's name for a split file
    parts: tuple[str, ...]
    size: int
    sha256: str | None  # None for a split file (each part has its own)
    quant: str

    @property
    def is_split(self) -> bool:
        return len(self.parts) > 1


@dataclass(frozen=True)
class RepoFiles:
    repo: HubRepo
    files: tuple[HubFile, ...]
    refused: tuple[str, ...]  # names the Hub returned that Duet will not write (../, absolute)
    commit: str | None


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", constants.ENDPOINT).rstrip("/")


def is_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().lower() in {"1", "true", "yes", "on"} or bool(constants.HF_HUB_OFFLINE)


def require_online() -> None:
    """Refuse in offline mode, and fail fast without a network.

    huggingface_hub retries a failed connection with backoff for about 20 s; a person looking
    at a search box should hear "no network" in a few seconds. So one plain TCP connect to the
    Hub's host comes first (remembered for a minute once it worked)."""
    if is_offline():
        raise duet_errors.HubOffline(
            "Offline mode is on (HF_HUB_OFFLINE=1), so Duet does not contact the Hub. "
            "Installed models still work; unset HF_HUB_OFFLINE to download."
        )
    url = urlparse(endpoint())
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    if _reachable.get((host, port), 0.0) > time.monotonic():
        return
    try:
        socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise duet_errors.HubUnreachable(
            f"Cannot reach the Hugging Face Hub at {endpoint()} ({exc.strerror or type(exc).__name__}). "
            "Check the network connection; installed models keep working offline."
        ) from None
    _reachable[(host, port)] = time.monotonic() + 60


def api() -> HfApi:
    return HfApi(endpoint=endpoint())


# Search and listing ---------------------------------------------------------------------------


def search(query: str, limit: int = 30) -> list[HubRepo]:
    """GGUF repositories matching `query`, most downloaded first.

    The request `HfApi.list_models` makes, for its first page only: the Hub sends up to `limit`
    results in it, and list_models would follow next-page links for as long as a server sends
    them, however empty the pages."""
    require_online()
    params: dict[str, object] = {
        "filter": "gguf",
        "sort": "downloads",
        "limit": limit,
        "full": True,
    }
    if query:
        params["search"] = query
    with hub_errors(f"searching the Hub for '{query}'"):
        response = http_backoff(
            "GET", f"{endpoint()}/api/models", params=params, headers=build_hf_headers()
        )
        hf_raise_for_status(response)
        items = response.json()
        if not isinstance(items, list):
            raise _unreadable(
                f"searching the Hub for '{query}'", "a search answer that is not a list"
            )
        # As list_models builds them: a search answer lists no files.
        infos = [
            ModelInfo(**{"siblings": None, **item})  # type: ignore[no-untyped-call]
            for item in items[:limit]
        ]
        return [_repo(info) for info in infos]


def list_files(repo_id: str, revision: str | None = None) -> RepoFiles:
    """A repository's GGUF files with sizes and sha256, split files grouped, quant labelled."""
    require_online()
    with hub_errors(f"reading {repo_id}"):
        info = api().model_info(repo_id, revision=revision, files_metadata=True)
        files, refused = group_gguf_files(repo_id, info.siblings or [])
        return RepoFiles(repo=_repo(info), files=files, refused=refused, commit=info.sha)


def group_gguf_files(
    repo_id: str, siblings: Sequence[object]
) -> tuple[tuple[HubFile, ...], tuple[str, ...]]:
    singles: list[HubFile] = []
    splits: dict[str, list[tuple[int, str, int]]] = {}
    refused: list[str] = []
    for sibling in siblings:
        name = str(getattr(sibling, "rfilename", ""))
        if not name.lower().endswith(".gguf"):
            continue
        if not is_safe_filename(name):
            refused.append(name)
            continue
        lfs = getattr(sibling, "lfs", None)
        size = getattr(sibling, "size", 0) or (getattr(lfs, "size", 0) if lfs else 0) or 0
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _unreadable(f"reading {repo_id}", f"the size of {name} is {str(size)[:40]!r}")
        sha = getattr(lfs, "sha256", None) if lfs else None
        if match := _SPLIT.match(name):
            splits.setdefault(match["stem"], []).append((int(match["part"]), name, size))
        else:
            singles.append(HubFile(repo_id, name, (name,), size, sha, quant_of(name)))
    for stem, parts in splits.items():
        parts.sort()
        names = tuple(name for _, name, _ in parts)
        total = sum(size for _, _, size in parts)
        singles.append(HubFile(repo_id, names[0], names, total, None, quant_of(stem)))
    singles.sort(key=lambda f: f.size)
    return tuple(singles), tuple(refused)


def is_safe_filename(name: str) -> bool:
    """A repository path that stays inside the folder it is written to, and that a file system
    can hold: no control characters (NUL), no part longer than 255 bytes."""
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return False
    parts = re.split(r"[\\/]", name)
    return ".." not in parts and all(
        len(part.encode("utf-8", "surrogatepass")) <= _NAME_MAX for part in parts
    )


def quant_of(filename: str) -> str:
    match = _QUANT.search(filename.rsplit("/", 1)[-1])
    return match.group(1).upper() if match else "unknown"


def label_repo(repo_id: str, tags: list[str], base_models: list[str]) -> tuple[ModelKind, str]:
    """Base or instruct from the repository's name, its `base_model` and its tags.

    A GGUF repository is usually a quantization of another model, named in `base_model`
    (tags like `base_model:quantized:org/Model-Instruct`), so that name counts as much as its own.
    """
    names = " ".join([repo_id, *base_models])
    if _INSTRUCT.search(names):
        return "instruct", "name"
    if _BASE.search(names):
        return "base", "name"
    if "conversational" in tags:
        return "instruct", "tag conversational"
    return "base", "no chat tags"


def _repo(info: object) -> HubRepo:
    tags = [str(t) for t in (getattr(info, "tags", None) or [])]
    base_models = [t.split(":")[-1] for t in tags if t.startswith("base_model:")]
    card = getattr(info, "card_data", None) or getattr(info, "cardData", None)
    card_base = card.get("base_model") if card is not None and hasattr(card, "get") else None
    if isinstance(card_base, str):
        base_models.append(card_base)
    elif isinstance(card_base, list):
        base_models.extend(str(b) for b in card_base)
    repo_id = str(getattr(info, "id", "") or getattr(info, "modelId", ""))
    kind, reason = label_repo(repo_id, tags, base_models)
    gated = getattr(info, "gated", False)
    return HubRepo(
        repo_id=repo_id,
        downloads=int(getattr(info, "downloads", 0) or 0),
        likes=int(getattr(info, "likes", 0) or 0),
        kind=kind,
        kind_reason=reason,
        gated=bool(gated) and gated != "false",
    )


# The KV cache from a remote header ----------------------------------------------------------------


def remote_kv_per_token(file: HubFile, revision: str | None = None) -> int | None:
    """KV bytes per token from the first bytes of a remote GGUF (one Range request). All
    quantizations of a model share it, so one request serves a whole repository.

    At most `_HEADER_PREFIX` bytes are read, whatever the server sends: one that ignores Range
    and sends a whole file is cut off there."""
    require_online()
    url = hf_hub_url(file.repo_id, file.parts[0], revision=revision, endpoint=endpoint())
    headers = {
        **build_hf_headers(),
        "Range": f"bytes=0-{_HEADER_PREFIX - 1}",
        "Accept-Encoding": "identity",  # raw bytes: a compressed answer cannot grow in memory
    }
    with hub_errors(f"reading the header of {file.filename}"):
        with get_session().stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=30
        ) as response:
            if response.status_code >= 400:
                return None
            prefix = _read_at_most(response.iter_raw(), _HEADER_PREFIX)
        try:
            return kv_bytes_per_token(read_metadata_prefix(prefix, file.filename))
        except duet_errors.ModelLoadError:
            return None


def _read_at_most(chunks: Iterator[bytes], limit: int) -> bytes:
    """The first `limit` bytes of a stream; stops reading there."""
    prefix = bytearray()
    for chunk in chunks:
        prefix += chunk[: limit - len(prefix)]
        if len(prefix) >= limit:
            break
    return bytes(prefix)


def file_metadata(
    repo_id: str, filename: str, revision: str | None = None
) -> tuple[str, int, str | None, str | None]:
    """(download URL, size, sha256 or None, commit) from a HEAD on the resolve URL."""
    require_online()
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint())
    with hub_errors(f"finding {repo_id}/{filename}"):
        meta = get_hf_file_metadata(url, endpoint=endpoint())
    if meta.size is None:
        raise duet_errors.DownloadError(
            f"The Hub did not say how large {filename} is; try again later."
        )
    etag = (meta.etag or "").strip('"')
    sha = etag if re.fullmatch(r"[0-9a-f]{64}", etag) else None
    return meta.location, meta.size, sha, meta.commit_hash


# Errors -------------------------------------------------------------------------------------------


@contextmanager
def hub_errors(doing: str) -> Iterator[None]:
    """Translate huggingface_hub and network errors into plain HubErrors."""
    try:
        yield
    except duet_errors.DuetError:
        raise
    except errors.OfflineModeIsEnabled:
        raise duet_errors.HubOffline(
            f"Offline mode is on, so Duet did not contact the Hub while {doing}. "
            "Unset HF_HUB_OFFLINE to download."
        ) from None
    except errors.GatedRepoError:
        raise duet_errors.HubAccessDenied(
            f"This model is gated ({doing}): accept its terms on its Hub page while logged in, "
            "then log in here with `hf auth login` (or set HF_TOKEN)."
        ) from None
    except errors.RepositoryNotFoundError:
        raise duet_errors.HubNotFound(
            f"Not found while {doing}: the repository does not exist, or it is private. "
            "Check the name; for a private repository log in with `hf auth login`."
        ) from None
    except (
        errors.RemoteEntryNotFoundError,
        errors.EntryNotFoundError,
        errors.RevisionNotFoundError,
    ):
        raise duet_errors.HubNotFound(
            f"Not found while {doing}: the file or revision is not in that repository. "
            "`duet search` or the Models window lists what it has."
        ) from None
    except errors.HfHubHTTPError as exc:
        raise _http_error(
            exc.response.status_code if exc.response is not None else 0, doing
        ) from None
    except (httpx2.TransportError, httpx2.TimeoutException, OSError) as exc:
        raise duet_errors.HubUnreachable(
            f"Cannot reach the Hugging Face Hub at {endpoint()} while {doing} ({type(exc).__name__}). "
            "Check the network connection; installed models keep working offline."
        ) from None
    except errors.HFValidationError:
        raise duet_errors.HubNotFound(
            f"Stopped while {doing}: that is not a Hub repository name (owner/name, with letters, "
            "digits, '-', '_' and '.')."
        ) from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        # huggingface_hub reads the Hub's JSON and headers into its dataclasses as they come: an
        # answer of another shape (a field of the wrong type, JSON nested too deeply, a malformed
        # address) lands here. The traceback goes to the debug log, in case the fault is Duet's.
        _log.debug("unreadable answer while %s", doing, exc_info=True)
        detail = f"{type(exc).__name__}: {str(exc)[:200]}" if str(exc) else type(exc).__name__
        raise _unreadable(doing, detail) from None


def _unreadable(doing: str, detail: str) -> duet_errors.HubError:
    return duet_errors.HubError(
        f"The Hub at {endpoint()} sent an answer Duet cannot read while {doing} ({detail}). "
        "Try again later; if it keeps happening, check HF_ENDPOINT."
    )


def _http_error(status: int, doing: str) -> duet_errors.HubError:
    if status == 401:
        return duet_errors.HubAccessDenied(
            f"The Hub refused the request while {doing} (401): log in with `hf auth login` or set "
            "HF_TOKEN to a valid token."
        )
    if status == 403:
        return duet_errors.HubAccessDenied(
            f"The Hub denied access while {doing} (403): your account may need to accept the "
            "model's terms on its page, or your token lacks read access."
        )
    if status == 404:
        return duet_errors.HubNotFound(
            f"Not found while {doing} (404): check the repository and file name."
        )
    if status == 429:
        return duet_errors.HubRateLimited(
            f"The Hub is rate-limiting requests ({doing}): wait a few minutes and try again; "
            "logged-in users get higher limits."
        )
    return duet_errors.HubError(f"The Hub answered HTTP {status} while {doing}: try again later.")
