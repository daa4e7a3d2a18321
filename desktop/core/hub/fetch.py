"""One GET of a model file from a server Duet does not trust, through http.client or httpx.

The rules, whatever the server answers:
- The Hub's headers (the token) go only to the endpoint's exact origin: scheme, host and port.
- A redirect from https to plain http is refused, and so is any other scheme: nothing follows it.
- At most five redirects; a 3xx without a Location comes back to the caller, its body unread.
- A proxy is used where httpx would use one: `urllib.request.getproxies()` reads the environment
  and, on macOS and Windows, the system settings. Through a proxy the request goes by httpx2.
- Cancel takes effect within a fraction of a second at every stage. Connecting (DNS, TCP, TLS)
  and waiting for the headers run on a helper thread that is left behind on cancel; while the
  body is read, cancel shuts the socket down, which wakes the blocked read at once.
- Everything a server or the network can break comes out as `FetchFailed` (retryable) or a
  `DownloadError` (a refusal), never as a ValueError from a parser.

Why not httpx for everything: the body is read with http.client's `readinto` straight into the
caller's reused buffers. httpx hands over a new 64 KiB `bytes` object per read: on loopback it
read a 512 MiB body at 330-530 MB/s where `readinto` read 805, and with `readinto` a download,
sha256 included, ran at 0.93 of curl's rate on 2 cores (bench/download.py). Proxied downloads,
which are rare and bound by the proxy anyway, go through httpx and copy.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import queue
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx2

from desktop.core.errors import DownloadError

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}
_POLL = 0.05  # seconds between looks at the cancel token while a helper thread waits
_NETWORK_ERRORS = (http.client.HTTPException, httpx2.HTTPError, httpx2.InvalidURL, OSError)

T = TypeVar("T")


class Cancel(Protocol):
    """What a fetch needs of a cancel token (desktop.core.hub.download.CancelToken)."""

    @property
    def cancelled(self) -> bool: ...

    def on_cancel(self, action: Callable[[], None]) -> Callable[[], None]:
        """Run `action` when cancelled (at once if already); the result unregisters it."""
        ...


class FetchFailed(Exception):
    """This one request failed: the network, or an answer no HTTP library accepts. Retryable;
    the text says what happened."""


class FetchCancelled(Exception):
    """The cancel token was set while connecting or waiting for an answer."""


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port), the default port filled in. Raises ValueError for a bad port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


class Response:
    """An answer whose body has not been read yet."""

    status: int
    url: str

    def header(self, name: str) -> str | None:
        raise NotImplementedError

    def readinto(self, buffer: memoryview) -> int:
        """Body bytes into `buffer`, 0 at the end. Raises FetchFailed when the connection breaks."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get(
    url: str,
    headers: Mapping[str, str],
    *,
    hub: str,
    hub_headers: Mapping[str, str],
    cancel: Cancel,
    timeout: float = 30.0,
) -> Response:
    """GET `url` following redirects under the rules above. `hub_headers` go to `hub`'s
    origin only; `url` counts as a redirect from `hub`, so an https Hub never leads to http."""
    scheme = urlsplit(hub).scheme.lower()
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            target = origin(url)
            trusted = target == origin(hub)
        except ValueError:
            raise FetchFailed(f"a redirect to a malformed address ({url[:200]!r})") from None
        if target[0] not in _DEFAULT_PORTS:
            raise DownloadError(
                f"The server sent the download to {url[:200]!r}, which is not an http(s) address; "
                "Duet refuses it. Try again later."
            )
        if scheme == "https" and target[0] == "http":
            raise DownloadError(
                f"The server redirected the download from https to plain http ({target[1]}); "
                "Duet refuses that, so nothing, and no token, goes out unencrypted. "
                "Try again later."
            )
        scheme = target[0]
        send = {**headers, **(hub_headers if trusted else {})}
        proxy = _proxy_for(url)
        response = (
            _Proxied.open(url, send, proxy, cancel, timeout)
            if proxy
            else _Direct.open(url, send, cancel, timeout)
        )
        location = response.header("location")
        if response.status not in _REDIRECTS or not location:
            return response
        response.close()
        try:
            url = urljoin(url, location.strip())
        except ValueError:  # urljoin parses it: "http://[::1" is no address
            raise FetchFailed(f"a redirect to a malformed address ({location[:200]!r})") from None
    raise FetchFailed("too many redirects")


def run_cancellable(work: Callable[[], T], cancel: Cancel, discard: Callable[[T], None]) -> T:
    """`work()`, run on a helper thread so that cancel needs no cooperation from it: on cancel
    this raises FetchCancelled at once, and a result that arrives later is `discard`ed."""
    results: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()
    lock = threading.Lock()
    abandoned = False

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:
            results.put((False, exc))
            return
        with lock:
            if not abandoned:
                results.put((True, result))
                return
        discard(result)

    threading.Thread(target=run, name="duet-fetch", daemon=True).start()
    while True:
        try:
            ok, value = results.get(timeout=_POLL)
        except queue.Empty:
            if not cancel.cancelled:
                continue
            with lock:
                abandoned = True
            try:  # a result that came in just before
                ok, value = results.get_nowait()
                if ok:
                    discard(value)  # type: ignore[arg-type]
            except queue.Empty:
                pass
            raise FetchCancelled() from None
        if ok:
            return value  # type: ignore[return-value]
        assert isinstance(value, BaseException)
        raise value


# The direct path: http.client -------------------------------------------------------------------


class _Direct(Response):
    def __init__(
        self, connection: http.client.HTTPConnection, answer: http.client.HTTPResponse, url: str
    ) -> None:
        self.connection, self.answer, self.url = connection, answer, url
        self.status = answer.status
        self.unregister: Callable[[], None] = lambda: None

    @classmethod
    def open(cls, url: str, headers: Mapping[str, str], cancel: Cancel, timeout: float) -> _Direct:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        connection = (
            http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls())
            if parts.scheme.lower() == "https"
            else http.client.HTTPConnection(host, port, timeout=timeout)
        )
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

        def exchange() -> tuple[socket.socket | None, http.client.HTTPResponse]:
            try:
                connection.request("GET", target, headers=dict(headers))
                sock = connection.sock  # before getresponse, which may hand it to the answer
                return sock, connection.getresponse()
            except BaseException:
                connection.close()
                raise

        def discard(result: tuple[socket.socket | None, http.client.HTTPResponse]) -> None:
            result[1].close()
            connection.close()

        stop = cancel.on_cancel(lambda: _shutdown(connection.sock))
        try:
            sock, answer = run_cancellable(exchange, cancel, discard)
        except (*_NETWORK_ERRORS, ValueError) as exc:
            connection.close()
            raise FetchFailed(_describe(exc)) from None
        finally:
            stop()
        response = cls(connection, answer, url)
        response.unregister = cancel.on_cancel(lambda: _shutdown(sock))
        return response

    def header(self, name: str) -> str | None:
        return self.answer.getheader(name)

    def readinto(self, buffer: memoryview) -> int:
        try:
            return self.answer.readinto(buffer)
        except (*_NETWORK_ERRORS, ValueError) as exc:
            raise FetchFailed(_describe(exc)) from None

    def close(self) -> None:
        self.unregister()
        self.answer.close()
        self.connection.close()


# The proxied path: httpx2 ----------------------------------------------------------------------


class _Proxied(Response):
    def __init__(self, client: httpx2.Client, answer: httpx2.Response, url: str) -> None:
        self.client, self.answer, self.url = client, answer, url
        self.status = answer.status_code
        self.pending = b""
        self.chunks: Iterator[bytes] = answer.iter_raw()
        self.unregister: Callable[[], None] = lambda: None

    @classmethod
    def open(
        cls, url: str, headers: Mapping[str, str], proxy: str, cancel: Cancel, timeout: float
    ) -> _Proxied:
        try:
            client = httpx2.Client(proxy=proxy, timeout=timeout, follow_redirects=False)
        except (ImportError, ValueError, httpx2.InvalidURL) as exc:  # socks5://, pac://, ...
            raise DownloadError(
                f"The proxy set on this computer ({proxy[:100]}) cannot be used for downloads "
                f"({exc}). Set an http proxy (HTTPS_PROXY), or none."
            ) from None

        def exchange() -> httpx2.Response:
            return client.send(client.build_request("GET", url, headers=dict(headers)), stream=True)

        def discard(answer: httpx2.Response) -> None:
            answer.close()
            client.close()

        try:
            answer = run_cancellable(exchange, cancel, discard)
        except FetchCancelled:
            client.close()
            raise
        except (*_NETWORK_ERRORS, ValueError) as exc:
            client.close()
            raise FetchFailed(_describe(exc)) from None
        response = cls(client, answer, url)
        stream = answer.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        response.unregister = cancel.on_cancel(lambda: _shutdown(sock))
        return response

    def header(self, name: str) -> str | None:
        return self.answer.headers.get(name)

    def readinto(self, buffer: memoryview) -> int:
        if not self.pending:
            try:
                self.pending = next(self.chunks, b"")
            except (*_NETWORK_ERRORS, ValueError) as exc:
                raise FetchFailed(_describe(exc)) from None
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self) -> None:
        self.unregister()
        self.answer.close()
        self.client.close()


# Helpers ----------------------------------------------------------------------------------------


def _proxy_for(url: str) -> str | None:
    """The proxy httpx would use for `url`, from the environment or the OS settings."""
    proxies = urllib.request.getproxies()
    if not proxies:
        return None
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


@cache
def _tls_for(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return httpx2.create_ssl_context()


def _tls() -> ssl.SSLContext:
    """The TLS settings httpx2 uses (the OS trust store, SSL_CERT_FILE and SSL_CERT_DIR)."""
    return _tls_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


def _shutdown(sock: socket.socket | None) -> None:
    """Wake a read blocked on `sock` in another thread. The plain socket's shutdown, also for
    TLS: it leaves the TLS state to the thread that is reading."""
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
