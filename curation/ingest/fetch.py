"""A URL fetcher that is safe to point at lists from the internet.

- http and https only, on every hop; at most INGEST_URL_MAX_REDIRECTS redirects, followed here.
- The address is checked when the socket connects, after DNS, on every hop: loopback, private,
  link-local (cloud metadata 169.254.169.254), multicast, reserved and unspecified addresses are
  refused unless INGEST_URL_ALLOW_NETWORKS lists them. The socket connects to the very address
  that was checked, so DNS cannot answer differently between the check and the connection.
- Connect, read and total timeouts; the byte cap is enforced while streaming (a Content-Length
  over the cap is refused before reading).
- Bounded retries with backoff on 5xx and dropped connections; at most INGEST_URL_PER_HOST
  concurrent requests per host (per process).
- The type is decided later from the bytes; the Content-Type header is only quoted in messages.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import connection as u3connection

from curation.ingest.limits import Limits
from curation.ingest.reasons import IngestError, Reason, printable

REDIRECTS = {301, 302, 303, 307, 308}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(Exception):
    """The host resolves to an address we refuse to connect to (not an OSError on purpose, so
    urllib3 does not wrap or retry it)."""


@dataclass
class Fetched:
    data: bytes
    content_type: str
    final_url: str


def address_problem(ip: IPAddress, allow: tuple[Network, ...]) -> str | None:
    """Why connecting to `ip` is refused, or None if it is a public (or allowed) address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
    if any(ip.version == net.version and ip in net for net in allow):
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private network address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved or non-public address"
    return None


class _GuardedConnectionMixin:
    """Resolve, check every address, then connect to a checked address (no second lookup)."""

    allow_networks: tuple[Network, ...] = ()

    def _new_conn(self) -> socket.socket:
        host = self._dns_host  # type: ignore[attr-defined]
        port = self.port  # type: ignore[attr-defined]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(host, self, exc) from exc  # type: ignore[arg-type]
        addresses: list[str] = []
        for info in infos:
            literal = str(info[4][0]).split("%", 1)[0]
            problem = address_problem(ipaddress.ip_address(literal), self.allow_networks)
            if problem:
                shown = host if host == literal else f"{host} ({literal})"
                raise BlockedAddress(
                    f"{shown} is {problem}; refused (INGEST_URL_ALLOW_NETWORKS allows intranet)"
                )
            if literal not in addresses:
                addresses.append(literal)
        last: Exception | None = None
        for literal in addresses:
            try:
                return u3connection.create_connection(
                    (literal, port),
                    self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address,  # type: ignore[attr-defined]
                    socket_options=self.socket_options,  # type: ignore[attr-defined]
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"connection to {host} timed out") from exc
            except OSError as exc:
                last = exc
        raise NewConnectionError(self, f"cannot connect to {host}: {last}")  # type: ignore[arg-type]


class SafeFetcher:
    """Fetch URLs one at a time per call; safe to call from many threads at once."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        attrs = {"allow_networks": limits.url_allow_networks}
        http_conn = type("GuardedHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), attrs)
        https_conn = type(
            "GuardedHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), attrs
        )
        self.pool = urllib3.PoolManager(
            num_pools=256,
            maxsize=max(1, limits.url_per_host),
            retries=False,
            headers={
                "User-Agent": limits.url_user_agent,
                "Accept": "image/*,*/*;q=0.5",
                "Accept-Encoding": "identity",
            },
        )
        self.pool.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type(
                "GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
            ),
        }
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    @contextmanager
    def _host_slot(self, host: str) -> Iterator[None]:
        with self._slots_lock:
            slot = self._slots.setdefault(
                host, threading.BoundedSemaphore(max(1, self.limits.url_per_host))
            )
        with slot:
            yield

    def fetch(self, url: str) -> Fetched:
        """The body of `url`, or IngestError with the reason it could not be had."""
        limits = self.limits
        deadline = time.monotonic() + limits.url_total_timeout
        current = url
        for hop in range(limits.url_max_redirects + 1):
            parts = _checked_parts(current, redirected=hop > 0)
            with self._host_slot(parts.hostname or ""):
                result = self._get_with_retries(current, deadline)
            if isinstance(result, Fetched):
                return result
            current = result  # a redirect target
        raise IngestError(
            Reason.TOO_MANY_REDIRECTS,
            f"more than {limits.url_max_redirects} redirects (last to {printable(current)})",
        )

    def _get_with_retries(self, url: str, deadline: float) -> Fetched | str:
        attempts = 1 + max(0, self.limits.url_retries)
        for attempt in range(attempts):
            last_try = attempt == attempts - 1
            try:
                return self._get(url, deadline)
            except _Retryable as exc:
                if last_try or time.monotonic() + 0.5 * 2**attempt >= deadline:
                    raise IngestError(
                        exc.reason, f"{exc.message} (after {attempt + 1} tries)"
                    ) from None
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def _get(self, url: str, deadline: float) -> Fetched | str:
        limits = self.limits
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise IngestError(Reason.TIMEOUT, f"gave up after {limits.url_total_timeout:g} s")
        timeout = urllib3.Timeout(
            connect=min(limits.url_connect_timeout, remaining),
            read=min(limits.url_read_timeout, remaining),
        )
        try:
            response = self.pool.urlopen(
                "GET", url, redirect=False, retries=False, preload_content=False, timeout=timeout
            )
        except BlockedAddress as exc:
            raise IngestError(Reason.URL_BLOCKED, str(exc)) from None
        except (ConnectTimeoutError, ReadTimeoutError, TimeoutError):
            raise IngestError(
                Reason.TIMEOUT, f"no answer within {timeout.read_timeout or 0:g} s"
            ) from None
        except NameResolutionError:
            raise IngestError(
                Reason.CONNECTION_ERROR, f"host name {urlsplit(url).hostname!r} does not resolve"
            ) from None
        except SSLError as exc:
            raise IngestError(Reason.CONNECTION_ERROR, f"TLS failed: {exc}") from None
        except LocationParseError as exc:
            raise IngestError(Reason.BAD_LINE, f"not a valid URL: {exc}") from None
        except (NewConnectionError, ProtocolError) as exc:
            raise _Retryable(Reason.CONNECTION_ERROR, f"connection failed: {_short(exc)}") from None
        except HTTPError as exc:
            raise IngestError(Reason.CONNECTION_ERROR, f"request failed: {_short(exc)}") from None
        try:
            status = response.status
            if status in REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise IngestError(
                        Reason.HTTP_ERROR, f"HTTP {status} redirect without a Location"
                    )
                return urljoin(url, location)
            if status >= 500:
                raise _Retryable(
                    Reason.HTTP_ERROR, f"HTTP {status} {response.reason or ''}".strip()
                )
            if status != 200:
                raise IngestError(
                    Reason.HTTP_ERROR, f"HTTP {status} {response.reason or ''}".strip()
                )
            content_type = response.headers.get("Content-Type", "")
            return Fetched(self._read_capped(response, deadline), content_type, url)
        finally:
            response.close()
            response.release_conn()

    def _read_capped(self, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        cap = self.limits.max_bytes
        announced = response.headers.get("Content-Length")
        if announced and announced.isdigit() and int(announced) > cap:
            raise IngestError(
                Reason.FILE_TOO_LARGE,
                f"server announces {int(announced):,} bytes, over the {cap:,}-byte limit "
                "(INGEST_MAX_BYTES)",
            )
        blocks: list[bytes] = []
        total = 0
        try:
            while True:
                block = response.read1(64 * 1024)
                if not block:
                    break
                total += len(block)
                if total > cap:
                    raise IngestError(
                        Reason.FILE_TOO_LARGE,
                        f"response is larger than the {cap:,}-byte limit (INGEST_MAX_BYTES); "
                        "stopped reading",
                    )
                if time.monotonic() > deadline:
                    raise IngestError(
                        Reason.TIMEOUT,
                        f"download took longer than {self.limits.url_total_timeout:g} s",
                    )
                blocks.append(block)
        except (ReadTimeoutError, TimeoutError):
            raise IngestError(Reason.TIMEOUT, "the server stopped sending data") from None
        except (ProtocolError, OSError) as exc:
            raise _Retryable(
                Reason.CONNECTION_ERROR, f"download broke off: {_short(exc)}"
            ) from None
        return b"".join(blocks)


class _Retryable(Exception):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:199] + "…"


def _checked_parts(url: str, *, redirected: bool) -> SplitResult:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise IngestError(Reason.BAD_LINE, f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        where = "redirect to" if redirected else "URL"
        raise IngestError(
            Reason.URL_SCHEME,
            f"{where} {printable(url)!r} refused: only http:// and https:// are fetched",
        )
    if not parts.hostname:
        raise IngestError(Reason.BAD_LINE, f"URL has no host: {printable(url)!r}")
    return parts
