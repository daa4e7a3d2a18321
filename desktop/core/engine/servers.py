"""The OpenAI-compatible servers Duet knows: their list (remotes.json), their API keys (an
environment variable or the OS keyring, never a file), and the checks on both. No network here:
talking to a server is desktop.core.engine.remote.openai.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from desktop.core.atomic_file import locked, write_atomically
from desktop.core.errors import InsecureKey, RemoteError
from desktop.core.paths import app_dirs

KEYRING_SERVICE = "duet"
_NAME = re.compile(r"[\w-]{1,64}")
_LOCK_WAIT = 10.0  # seconds another process may hold the server list before a change gives up
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class RemoteServer:
    name: str
    url: str  # base URL, e.g. http://127.0.0.1:8080 (with or without /v1)
    api_key_env: str = ""
    # The user accepted that this server's key crosses the network over plain http.
    insecure_key_ok: bool = False

    @property
    def base(self) -> str:
        return _base(self.url)

    def api_key(self) -> str:
        """From the named environment variable, else the OS keyring entry made for this name
        at this URL; never from a file."""
        if self.api_key_env and os.environ.get(self.api_key_env):
            return os.environ[self.api_key_env]
        try:
            import keyring

            return keyring.get_password(KEYRING_SERVICE, _key_user(self.name, self.url)) or ""
        except Exception:  # no keyring package or no backend: no key
            return ""


def _base(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _key_user(name: str, url: str) -> str:
    # The keyring entry names the URL too: a key never follows a name to another address.
    return f"{name}@{_base(url)}"


def sends_key_in_clear(url: str) -> bool:
    """True for plain http to anything but this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return False  # not a URL at all: refused elsewhere
    if parts.scheme.lower() != "http" or host == "localhost":
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a host name: it may resolve anywhere
    mapped = getattr(address, "ipv4_mapped", None)
    return not (address.is_loopback or (mapped is not None and mapped.is_loopback))


# The list of servers ------------------------------------------------------------------------------


def _registry() -> Path:
    return app_dirs().config / "remotes.json"


def _entry(item: object) -> RemoteServer | None:
    """One server from the file, if every field has the shape Duet writes."""
    if not isinstance(item, dict):
        return None
    name, url = item.get("name"), item.get("url")
    env, insecure = item.get("api_key_env", ""), item.get("insecure_key_ok", False)
    if not (isinstance(name, str) and _NAME.fullmatch(name)) or _url_problem(url):
        return None
    if not (isinstance(env, str) and (not env or _ENV_VAR.fullmatch(env))):
        return None
    if not isinstance(insecure, bool):
        return None
    assert isinstance(url, str)
    return RemoteServer(name, url, env, insecure)


def _load() -> tuple[list[RemoteServer], str]:
    """The servers in remotes.json, and a warning if any of it could not be read."""
    path = _registry()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], ""
    except OSError as exc:
        return [], _damaged(path, exc.strerror or type(exc).__name__)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # invalid UTF-8 is a ValueError too
        return [], _damaged(path, "it is not valid JSON")
    if not isinstance(data, list):
        return [], _damaged(path, "it is not a list of servers")
    found: list[RemoteServer] = []
    for item in data:
        server = _entry(item)
        if server is not None and all(s.name != server.name for s in found):
            found.append(server)
    bad = len(data) - len(found)
    if bad:
        return found, _damaged(path, f"{bad} of its {len(data)} entries are not servers")
    return found, ""


def _damaged(path: Path, why: str) -> str:
    return (
        f"The server list {path} could not be read ({why}): Duet ignores what it cannot read. "
        f"Adding or removing a server keeps a copy of the file as {path.name}.bak; "
        "fix or delete the file to silence this."
    )


def servers() -> list[RemoteServer]:
    return _load()[0]


def servers_warning() -> str:
    """What is wrong with remotes.json, or "" if nothing is."""
    return _load()[1]


def _save(items: list[RemoteServer]) -> None:
    path = _registry()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if _load()[1] and path.exists():
            # A file Duet could not read is the user's: keep it rather than overwrite it.
            os.replace(path, _free_backup(path))
        write_atomically(path, json.dumps([asdict(s) for s in items], indent=2))
    except OSError as exc:
        raise RemoteError(f"Cannot write the server list {path}: {exc.strerror or exc}.") from exc


@contextlib.contextmanager
def _editing() -> Iterator[None]:
    """One change to the list at a time, across processes: the window and `duet remote add`
    each read the list, change it and save it, and without the lock one would save over the
    other's server."""
    path = _registry()
    try:
        with locked(path, timeout=_LOCK_WAIT):
            yield
    except OSError as exc:
        raise RemoteError(f"Cannot change the server list {path}: {exc.strerror or exc}.") from exc


def _free_backup(path: Path) -> Path:
    backup = path.with_name(path.name + ".bak")
    number = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.bak{number}")
        number += 1
    return backup


def _url_problem(url: object) -> str:
    """Why a URL cannot name a server, or "" if it can."""
    example = "like http://127.0.0.1:8080"
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        return f"'{url}' is not an http(s) URL, {example}."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError:
        return f"'{url}' is not a valid URL, {example}."
    if not parts.hostname or len(url) > 2000 or any(c.isspace() for c in url):
        return f"'{url}' is not a valid URL, {example}."
    return ""


def add_server(
    name: str,
    url: str,
    api_key_env: str = "",
    api_key: str = "",
    allow_insecure_key: bool = False,
) -> RemoteServer:
    """Adds a server, its key (if given) to the OS keyring for this name at this URL.
    Everything is checked first: a refused server leaves nothing behind, in the file or the
    keyring. A key over plain http to another machine needs allow_insecure_key."""
    if not _NAME.fullmatch(name):
        raise RemoteError(f"'{name}' cannot name a server: use up to 64 letters, digits, - and _.")
    if problem := _url_problem(url):
        raise RemoteError(problem)
    if api_key_env and not _ENV_VAR.fullmatch(api_key_env):
        raise RemoteError(
            f"'{api_key_env}' cannot name an environment variable: use letters, digits and _."
        )
    with _editing():
        known = servers()
        if same := next((s for s in known if s.name == name), None):
            raise RemoteError(
                f"There is already a server named {name} ({same.url}): pick another name, or "
                f"remove it first (`duet remote rm {name}`)."
            )
        clear = bool(api_key or api_key_env) and sends_key_in_clear(url)
        if clear and not allow_insecure_key:
            raise InsecureKey(
                f"{url} is plain http to another machine: the API key would cross the network "
                "unencrypted, readable by anyone on the way. Use https if the server offers it."
            )
        server = RemoteServer(name, url, api_key_env, insecure_key_ok=clear)
        if api_key:
            _store_key(server, api_key)
        try:
            _save([*known, server])
        except RemoteError:
            _delete_key(server)
            raise
    return server


def remove_server(name: str) -> None:
    """Removes a server and the key kept for it."""
    with _editing():
        known = servers()
        gone = next((s for s in known if s.name == name), None)
        if gone is None:
            raise RemoteError(f"There is no server named {name}: `duet remote list` shows them.")
        _save([s for s in known if s.name != name])
    _delete_key(gone)


def _store_key(server: RemoteServer, key: str) -> None:
    """Keeps a server's key in the OS keyring (Keychain, Credential Locker, Secret Service)."""
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, _key_user(server.name, server.url), key)
    except Exception as exc:  # no backend on this machine: say so, keep nothing on disk
        raise RemoteError(
            f"The OS keyring is not available ({exc}); put the key in an environment "
            "variable and name it instead."
        ) from exc


def _delete_key(server: RemoteServer) -> None:
    try:
        import keyring
    except ImportError:
        return
    # Also the entry under the bare name, where earlier versions kept a server's key.
    for user in (_key_user(server.name, server.url), server.name):
        # No such entry, or no backend: nothing to delete.
        with contextlib.suppress(Exception):
            keyring.delete_password(KEYRING_SERVICE, user)


def server(name: str) -> RemoteServer:
    found = next((s for s in servers() if s.name == name), None)
    if found is None:
        raise RemoteError(
            f"There is no server named {name}: add it with `duet remote add {name} URL`."
        )
    return found
