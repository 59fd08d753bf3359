"""The HTTP server's limits for ``pgrest-asgi serve``: uvicorn's HTTP/1.1 protocol with a guard.

uvicorn itself bounds neither the request head (httptools buffers header lines of any size)
nor the time a client takes to send it, and a response its client does not read stays in
memory as long as the connection lives. ``serve`` runs uvicorn's own HTTP/1.1 protocol
(httptools', or h11's when httptools is not installed) with ``_Guard`` mixed in:

* the request head is counted as it arrives, before the parser buffers it: a request line
  well past the URL limit is answered 414 and a header block over its size or count 431,
  as PostgREST's JSON errors;
* a request's line and headers must arrive within ``server-header-timeout``, and its body
  may not pause longer than ``server-body-timeout``;
* responses whose client stops reading are dropped after ``server-send-timeout``, or sooner,
  longest-stalled first, while together they hold more than ``server-max-unsent-size``.

A host running ``PgRestApp`` under uvicorn itself can pass ``http=http_protocol(settings)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

from .errors import ApiRequestError, PgRestError
from .settings import Settings

__all__ = ["ServeLimits", "http_protocol"]

#: A request line may exceed the URL limit by this much (method, version, ``?``, an absolute
#: URI's scheme and host): up to there the app answers the 414 itself, with the same body.
_LINE_SLACK = 1024
#: httptools cannot parse a longer request target.
_HTTPTOOLS_MAX_TARGET = 65535
#: After a refusal the input is read and dropped this long before the connection is closed:
#: closing on unread input resets the connection, and the client could lose the answer.
_LINGER = 2.0
#: How often responses waiting on their client are checked for progress, in seconds.
_SWEEP = 0.5
#: Bytes a waiting response must have delivered to count as progress (a client that reads a
#: few bytes a second would otherwise keep its response in memory for hours).
_PROGRESS = 16 * 1024


@dataclass(frozen=True, slots=True)
class ServeLimits:
    """The limits ``serve``'s HTTP protocol enforces (from ``Settings``)."""

    url_length: int  # named in the 414 body
    line_length: int  # request line bytes beyond which the server answers the 414 itself
    header_size: int
    header_count: int
    header_timeout: float
    body_timeout: float
    send_timeout: float
    max_unsent: int
    verbose: bool

    @classmethod
    def from_settings(cls, settings: Settings, *, httptools: bool) -> ServeLimits:
        url = settings.server_max_url_length
        line = url + _LINE_SLACK
        if httptools:
            # The shortest request line around a target: "GET " + target + " HTTP/1.1\n".
            url = min(url, _HTTPTOOLS_MAX_TARGET)
            line = min(line, _HTTPTOOLS_MAX_TARGET + len(b"GET  HTTP/1.1\n"))
        return cls(
            url_length=url,
            line_length=line,
            header_size=settings.server_max_header_size,
            header_count=settings.server_max_header_count,
            header_timeout=settings.server_header_timeout,
            body_timeout=settings.server_body_timeout,
            send_timeout=settings.server_send_timeout,
            max_unsent=settings.server_max_unsent_size,
            verbose=settings.client_error_verbosity == "verbose",
        )

    def url_too_long(self) -> PgRestError:
        return ApiRequestError.too_long("URL", self.url_length)

    def headers_too_large(self) -> PgRestError:
        return ApiRequestError.headers_too_large(self.header_size)

    def too_many_headers(self) -> PgRestError:
        return ApiRequestError.too_many_headers(self.header_count)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that was refused."""


class _Guard(asyncio.Protocol):
    """Mixed into a uvicorn HTTP/1.1 protocol class (see ``http_protocol``)."""

    limits: ClassVar[ServeLimits]
    unsent: ClassVar[_UnsentResponses]

    # Set by uvicorn's protocol classes.
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    flow: Any
    cycle: Any
    server_state: Any

    # Per connection, set in ``connection_made`` and ``_start_head``.
    _head_start: float | None
    _line_open: bool
    _line_room: int
    _header_room: int

    # -- the parser's state, per protocol -------------------------------------------------
    def _reading_head(self) -> bool:
        """Whether the next bytes belong to a request line or header lines."""
        raise NotImplementedError

    def _receiving_body(self) -> bool:
        raise NotImplementedError

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._cycle_transport = _CycleTransport(self)
        self._discarding = False  # after a refusal: input is read and dropped
        self._pending: PgRestError | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._start_head(self.loop.time())  # an idle new connection counts as a slow head

    def connection_lost(self, exc: Exception | None) -> None:
        self.unsent.discard(self)
        for timer in (self._read_timer, self._linger):
            if timer is not None:
                timer.cancel()
        self._read_timer = self._linger = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return  # lingering before the close: the input is dropped
        now = self.loop.time()
        while data:
            if not self._reading_head():
                if self._receiving_body():
                    self._last_read = now
                self._feed(data, now)
                return
            if self._head_start is None:
                self._start_head(now)
            start = 0
            if self._line_open:
                end = data.find(b"\n", 0, self._line_room)
                if end < 0:
                    if len(data) >= self._line_room:
                        self._refuse(self.limits.url_too_long())
                        return
                    self._line_room -= len(data)
                    self._feed(data, now)
                    return
                self._line_open = False
                start = end + 1
            room = self._header_room
            if len(data) - start <= room:
                self._header_room = room - (len(data) - start)
                part, data = data, b""
            else:
                part, data = data[: start + room], data[start + room :]
                self._header_room = 0
            if not self._feed(part, now):
                return
            if self._head_start is not None and self._header_room == 0:
                self._refuse(self.limits.headers_too_large())
                return

    def pause_writing(self) -> None:
        super().pause_writing()
        self.unsent.add(self)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.unsent.discard(self)

    # -- the request head -----------------------------------------------------------------
    def _start_head(self, now: float) -> None:
        self._head_start = now
        self._line_open = True
        self._line_room = self.limits.line_length
        self._header_room = self.limits.header_size
        self._arm_read_timer(self.limits.header_timeout)

    def _feed(self, data: bytes, now: float) -> bool:
        """Hand bytes to uvicorn's parser; False once the connection is refused or closing."""
        cycle = self.cycle
        super().data_received(data)
        if self._discarding or self.transport.is_closing():
            return False
        if self._head_start is not None and (self.cycle is not cycle or not self._reading_head()):
            self._head_start = None  # the head is complete: uvicorn started a request cycle
            if self.cycle is not cycle and self.cycle is not None:
                self.cycle.transport = self._cycle_transport
            if self._receiving_body():
                self._last_read = now
                self._arm_read_timer(self.limits.body_timeout)
        return True

    def _refuse_pending(self) -> bool:
        """Answer the refusal a parser callback raised ``_Refused`` for, if any."""
        pending, self._pending = self._pending, None
        if pending is None:
            return False
        self._refuse(pending)
        return True

    def _refuse(self, error: PgRestError) -> None:
        """Answer ``error`` instead of parsing on, then close the connection."""
        self._discarding = True
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request while an earlier response is still being produced.
            self.transport.abort()
            return
        body = error.body(verbose=self.limits.verbose)
        status = f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\n"
        head = [status.encode()]
        for name, value in [
            *self.server_state.default_headers,
            *error.response_headers(len(body)),
            (b"connection", b"close"),
        ]:
            head += (name, b": ", value, b"\r\n")
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self._linger_and_close()

    def _close_after_response(self) -> None:
        """uvicorn closes after a response; while the request body is still arriving (the app
        refused it unread), the client must get to read the answer first."""
        if self._receiving_body() and not self._discarding and not self.transport.is_closing():
            self._discarding = True
            self.flow.resume_reading()
            self._linger_and_close()
        else:
            self.transport.close()

    def _linger_and_close(self) -> None:
        """Send what is written, then the end of the stream; drop the client's input for a
        while (it may still be sending) and close."""
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._linger = self.loop.call_later(_LINGER, self.transport.abort)
        else:
            self.transport.close()

    # -- read timeouts --------------------------------------------------------------------
    def _arm_read_timer(self, delay: float) -> None:
        if self._read_timer is None:
            self._read_timer = self.loop.call_later(delay, self._read_timeout)

    def _read_timeout(self) -> None:
        self._read_timer = None
        if self._discarding or self.transport.is_closing():
            return
        now = self.loop.time()
        if self._head_start is not None:
            due = self._head_start + self.limits.header_timeout
            if now >= due:
                if self.cycle is None or self.cycle.response_complete:
                    self.transport.abort()
                    return
                # A pipelined head waits for the response before it: not the client's delay.
                self._head_start = now
                due = now + self.limits.header_timeout
        elif self._receiving_body():
            due = self._last_read + self.limits.body_timeout
            if now >= due:
                if not self.flow.read_paused:
                    self.transport.abort()
                    return
                # uvicorn stopped reading (the app is not taking the body yet).
                self._last_read = now
                due = now + self.limits.body_timeout
        else:
            return
        self._read_timer = self.loop.call_later(due - now, self._read_timeout)


class _CycleTransport(asyncio.Transport):
    """The transport uvicorn's request cycle writes to: ``close`` lingers when it must."""

    def __init__(self, conn: _Guard) -> None:
        super().__init__()
        self._conn = conn

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._conn.transport.write(data)

    def is_closing(self) -> bool:
        return self._conn.transport.is_closing()

    def close(self) -> None:
        self._conn._close_after_response()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._conn.transport.get_extra_info(name, default)


class _Waiting:
    __slots__ = ("mark", "progress_at", "size")

    def __init__(self, size: int, now: float) -> None:
        self.size = self.mark = size
        self.progress_at = now


class _UnsentResponses:
    """Connections whose response waits for the client (uvicorn paused writing), server-wide.

    Every ``_SWEEP`` seconds each one's unsent bytes (the transport's buffer plus the kernel's
    send queue) are read: a connection that has not delivered ``_PROGRESS`` bytes for
    ``timeout`` seconds is dropped, and while all of them hold more than ``limit`` bytes the
    ones stalled longest (over a second) are dropped first.
    """

    def __init__(self, timeout: float, limit: int) -> None:
        self.timeout = timeout
        self.limit = limit
        self.tick = min(_SWEEP, timeout / 4)
        self.waiting: dict[_Guard, _Waiting] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, conn: _Guard) -> None:
        now = conn.loop.time()
        self.waiting[conn] = _Waiting(_unsent_bytes(conn.transport), now)
        if self._timer is None:
            self._timer = conn.loop.call_later(self.tick, self._sweep, conn.loop)
        self._shed(now)

    def discard(self, conn: _Guard) -> None:
        self.waiting.pop(conn, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        for conn, waiting in list(self.waiting.items()):
            size = _unsent_bytes(conn.transport)
            if size > waiting.mark:  # more was written: a new baseline, not progress
                waiting.mark = size
            elif size == 0 or waiting.mark - size >= _PROGRESS:
                waiting.mark, waiting.progress_at = size, now
            waiting.size = size
            if now - waiting.progress_at >= self.timeout:
                self._drop(conn)
        self._shed(now)
        if self.waiting:
            self._timer = loop.call_later(self.tick, self._sweep, loop)

    def _shed(self, now: float) -> None:
        if not self.limit:
            return
        total = sum(w.size for w in self.waiting.values())
        if total <= self.limit:
            return
        stalled = sorted(self.waiting.items(), key=lambda item: item[1].progress_at)
        for conn, waiting in stalled:
            if now - waiting.progress_at < max(1.0, 2 * self.tick) or total <= self.limit:
                break
            self._drop(conn)
            total -= waiting.size

    def _drop(self, conn: _Guard) -> None:
        self.waiting.pop(conn, None)
        conn.transport.abort()  # frees the unsent response at once (close() would wait on it)


def _outq_request() -> int | None:
    if not sys.platform.startswith("linux"):
        return None
    import termios

    return getattr(termios, "TIOCOUTQ", None)  # SIOCOUTQ: bytes the kernel still holds


_OUTQ = _outq_request()


def _unsent_bytes(transport: asyncio.Transport) -> int:
    size = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if _OUTQ is not None and sock is not None:
        import fcntl

        with contextlib.suppress(OSError, ValueError):
            queued = fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0")
            size += int.from_bytes(queued, sys.byteorder, signed=True)
    return size


def http_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol class (httptools', else h11's) with ``settings``' limits."""
    if importlib.util.find_spec("httptools") is not None:
        protocol = _httptools_protocol()
        limits = ServeLimits.from_settings(settings, httptools=True)
    else:
        protocol = _h11_protocol(settings)
        limits = ServeLimits.from_settings(settings, httptools=False)
    protocol.limits = limits
    protocol.unsent = _UnsentResponses(limits.send_timeout, limits.max_unsent)
    return protocol


def _httptools_protocol() -> type[_Guard]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
        _in_message = False
        _headers = 0

        def _reading_head(self) -> bool:
            return not self._in_message

        def _receiving_body(self) -> bool:
            return self._in_message

        def send_400_response(self, msg: str) -> None:
            if not self._refuse_pending():
                super().send_400_response(msg)

        def on_message_begin(self) -> None:
            self._headers = 0
            super().on_message_begin()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._headers += 1
            if self._headers > self.limits.header_count:
                self._pending = self.limits.too_many_headers()
                raise _Refused
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_message = True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_message = False

    return GuardedHttpToolsProtocol


def _h11_protocol(settings: Settings) -> type[_Guard]:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class CountingConnection(h11.Connection):
        """h11 counts no header lines: refuse a request with too many."""

        too_many_headers = False

        def next_event(self) -> Any:
            event = super().next_event()
            if (
                isinstance(event, h11.Request)
                and len(event.headers) > settings.server_max_header_count
            ):
                self.too_many_headers = True
                raise h11.RemoteProtocolError("too many header lines", error_status_hint=431)
            return event

    class GuardedH11Protocol(_Guard, H11Protocol):
        conn: CountingConnection

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # A backstop only: _Guard refuses long heads before h11 sees this much.
            self.conn = CountingConnection(
                h11.SERVER,
                max_incomplete_event_size=self.limits.line_length
                + self.limits.header_size
                + _LINE_SLACK,
            )

        def _reading_head(self) -> bool:
            return self.conn.their_state is h11.IDLE

        def _receiving_body(self) -> bool:
            return self.conn.their_state is h11.SEND_BODY

        def send_400_response(self, msg: str) -> None:
            if self.conn.too_many_headers:
                self._pending = self.limits.too_many_headers()
            if not self._refuse_pending():
                super().send_400_response(msg)

    return GuardedH11Protocol
