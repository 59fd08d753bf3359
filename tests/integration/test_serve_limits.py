"""`pgrest-asgi serve` under hostile clients: a real uvicorn process on loopback, raw sockets.

Each server lets the kernel choose its port (``server-port = 0``) and is found through the
address uvicorn logs, so no free-port race. Both HTTP parsers uvicorn can run are covered:
httptools, and h11 (what uvicorn falls back to when httptools is not installed; simulated by
hiding httptools from the server process).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pgrest_asgi.server import ServeLimits
from pgrest_asgi.settings import Settings
from pgrest_asgi.testing import PostgresCluster
from tests.conftest import API_DB

PARSERS = ("httptools", "h11")
#: Generous bound for anything the server should do "soon" on a loaded 2-core machine.
PATIENCE = 60.0
#: What a refused request may cost the server, at most (RSS growth).
MAX_GROWTH_MB = 150


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def memory_mb(self, field: str = "VmHWM") -> int:
        """``VmRSS`` or ``VmHWM`` (peak RSS) of the server process, in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
        raise AssertionError(field)

    def connections(self) -> int:
        """The server's open TCP connections on its HTTP port (from /proc)."""
        sockets = set()
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                sockets.add(os.readlink(fd))
            except OSError:
                continue
        count = 0
        for line in Path(f"/proc/{self.proc.pid}/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            listening = fields[3] == "0A"
            if local_port == self.port and not listening and f"socket:[{fields[9]}]" in sockets:
                count += 1
        return count


@contextmanager
def launch(
    cluster: PostgresCluster, log: Path, parser: str = "httptools", **settings: str
) -> Iterator[Server]:
    """A real ``pgrest-asgi serve`` on 127.0.0.1 with ``PGRST_<NAME>`` settings."""
    env = {
        **os.environ,
        "PGRST_DB_URI": cluster.dsn(API_DB, user="authenticator"),
        "PGRST_DB_SCHEMAS": "api",
        "PGRST_DB_ANON_ROLE": "web_anon",
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": "0",
        "PGRST_LOG_LEVEL": "info",  # uvicorn then logs the port the kernel chose
        **{"PGRST_" + name.upper(): value for name, value in settings.items()},
    }
    hide = "import sys; sys.modules['httptools'] = None; " if parser == "h11" else ""
    code = f"{hide}from pgrest_asgi.cli import main; raise SystemExit(main(['serve']))"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + PATIENCE
        port = None
        while port is None:
            found = re.search(rb"running on http://127\.0\.0\.1:(\d+)", log.read_bytes())
            if found:
                port = int(found.group(1))
            elif proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text())
            else:
                time.sleep(0.05)
        server = Server(proc, port, log)
        while True:
            try:
                if httpx.get(server.base + "/items?limit=1", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module", params=PARSERS)
def server(
    request: pytest.FixtureRequest,
    api_db: PostgresCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """One server per parser for the functional tests, with short timeouts."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with launch(
        api_db,
        log,
        request.param,
        server_header_timeout="2",
        server_body_timeout="2",
        server_send_timeout="3",
        server_max_body_size=str(1024 * 1024),
    ) as srv:
        yield srv


# -- raw HTTP ---------------------------------------------------------------------------------
def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (Content-Length framed); the socket's timeout bounds the wait."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the body"
        body += chunk
    return status, headers, body


def exchange(server: Server, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(server) as sock:
        sock.sendall(raw)
        return read_response(sock)


def assert_pgrst_error(
    response: tuple[int, dict[str, str], bytes], status: int, message: str
) -> None:
    got_status, headers, body = response
    assert got_status == status, body
    assert headers["content-type"] == "application/json; charset=utf-8"
    error = json.loads(body)
    assert list(error) == ["code", "details", "hint", "message"]
    assert error["code"] == "PGRST100"
    assert message in error["message"]


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (it sends nothing to these clients first)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


# -- what the limits must leave alone ---------------------------------------------------------
def test_kept_alive_connection_with_pauses_and_pipelining(server: Server) -> None:
    """Idle time between requests is not a slow head; a body sent a moment after its head,
    and two pipelined requests, are served as usual."""
    one = b"GET /items?select=id&id=eq.1 HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(one)
        assert read_response(sock)[::2] == (200, b'[{"id":1}]')
        time.sleep(2.2)  # longer than the header timeout, shorter than uvicorn's keep-alive
        sock.sendall(
            b"POST /rpc/echo_json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 7\r\n\r\n"
        )
        time.sleep(0.2)  # the body comes in a read of its own
        sock.sendall(b'{"a":1}')
        assert read_response(sock)[::2] == (200, b'{"a":1}')
        sock.sendall(one + one)
        assert read_response(sock)[::2] == (200, b'[{"id":1}]')
        assert read_response(sock)[::2] == (200, b'[{"id":1}]')
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # nothing left over


# -- 1. header limits -------------------------------------------------------------------------
def test_large_header_block_gets_431(server: Server) -> None:
    big = b"GET /items?limit=1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    assert_pgrst_error(exchange(server, big), 431, "larger than the configured limit of 32768")
    # Within the limit, a request with large headers is served.
    fine = b"GET /items?limit=1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 30_000 + b"\r\n\r\n"
    assert exchange(server, fine)[0] == 200


def test_too_many_headers_get_431(server: Server) -> None:
    lines = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    raw = b"GET /items?limit=1 HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n"
    assert_pgrst_error(exchange(server, raw), 431, "more than the configured limit of 100")
    lines = b"".join(b"X-H%d: v\r\n" % i for i in range(90))
    assert (
        exchange(server, b"GET /items?limit=1 HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")[0] == 200
    )


def test_header_flood_is_refused_without_buffering_it(
    api_db: PostgresCluster, tmp_path: Path
) -> None:
    """16 header lines of 8 MB each on four connections: answered 431 after the first 32 KB,
    the rest read and dropped; the server's peak RSS hardly moves."""
    with launch(api_db, tmp_path / "serve.log") as server:
        before = server.memory_mb()
        answers: list[int | None] = []

        def flood() -> None:
            value = b"a" * (8 * 1024 * 1024)
            with connect(server) as sock:
                try:
                    sock.sendall(b"GET /items HTTP/1.1\r\nHost: x\r\n")
                    for i in range(16):
                        sock.sendall(b"X-H%d: " % i + value + b"\r\n")
                    sock.sendall(b"\r\n")
                    answers.append(read_response(sock)[0])
                except OSError:  # reset once the server stopped reading
                    answers.append(None)

        threads = [threading.Thread(target=flood) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(PATIENCE)
        assert len(answers) == 4
        assert set(answers) <= {431, None}
        growth = server.memory_mb() - before
        assert growth < MAX_GROWTH_MB, f"peak RSS grew by {growth} MB"
        assert httpx.get(server.base + "/items?limit=1").status_code == 200


# -- 2. Content-Length over the body limit ----------------------------------------------------
def test_declared_body_over_the_limit_is_refused_unread(server: Server) -> None:
    with connect(server) as sock:
        sock.settimeout(10)  # the server answers at once: it never waits for the body
        sock.sendall(
            b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1099511627776\r\n\r\n{}"
        )
        response = read_response(sock)
        assert_pgrst_error(response, 413, "request body is longer than the configured limit")
        assert response[1]["connection"] == "close"
        assert closed_by_server(sock)


def test_streamed_body_over_the_limit_is_answered_then_cut(server: Server) -> None:
    """A chunked body that never ends: 413 once past the limit (1 MB here), which the client
    can read while it is still sending; then the server stops reading and closes."""
    sent = 0
    stopped_by: list[BaseException] = []

    def upload(sock: socket.socket) -> None:
        nonlocal sent
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b"1" * (1 << 20))
        deadline = time.monotonic() + PATIENCE
        try:
            while time.monotonic() < deadline:
                sock.sendall(chunk)
                sent += 1 << 20
        except OSError as exc:
            stopped_by.append(exc)

    with connect(server) as sock:
        sock.sendall(
            b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sender = threading.Thread(target=upload, args=(sock,))
        sender.start()
        response = read_response(sock)
        assert_pgrst_error(response, 413, "request body is longer than the configured limit")
        assert response[1]["connection"] == "close"
        sender.join(PATIENCE + 5)
        assert stopped_by, f"the server read on: {sent >> 20} MB sent"


# -- 3. slow clients --------------------------------------------------------------------------
def test_slow_clients_are_disconnected(server: Server) -> None:
    """200 clients stuck in their headers, 20 in their bodies and 20 silent ones: normal
    requests are served meanwhile, and every slow one is cut after its timeout (2 s)."""
    slow: list[socket.socket] = []
    try:
        for i in range(240):
            sock = connect(server)
            slow.append(sock)
            if i < 200:
                sock.sendall(b"GET /items HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            elif i < 220:
                sock.sendall(
                    b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n[{"
                )
        with httpx.Client(base_url=server.base, timeout=PATIENCE) as client:
            for _ in range(20):
                assert client.get("/items?select=id&id=eq.1").json() == [{"id": 1}]
        selector = selectors.DefaultSelector()
        for sock in slow:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        open_ = set(slow)
        deadline = time.monotonic() + PATIENCE
        while open_ and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                assert closed_by_server(sock), "a slow client got a response"
                selector.unregister(sock)
                open_.discard(sock)
        selector.close()
        assert not open_, f"{len(open_)} slow clients still connected after {PATIENCE} s"
    finally:
        for sock in slow:
            sock.close()


# -- 4. long URLs -----------------------------------------------------------------------------
@pytest.mark.parametrize("length", [16_385, 20_000, 70_000, 300_000])
def test_long_url_gets_json_414(server: Server, length: int) -> None:
    """Whichever of the server and the app sees it first, the answer is the same JSON 414."""
    query = b"select=id&x=" + b"a" * (length - len(b"/itemsselect=id&x="))  # path + query
    raw = b"GET /items?" + query + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert_pgrst_error(exchange(server, raw), 414, "URL is longer than the configured limit")


def test_url_at_the_limit_reaches_the_app(server: Server) -> None:
    """Path + query of exactly ``server-max-url-length`` (16384) bytes is served."""
    prefix = b"/items?select=id&id=in.("
    size = 16_384 + 1  # the limit counts path and query, not the "?" between them
    ones = (size - len(prefix) - 2) // 2
    target = prefix + b"1," * ones + b"0" * (size - len(prefix) - 2 * ones - 2) + b"1)"
    assert len(target) == size
    status, _, body = exchange(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, json.loads(body)) == (200, [{"id": 1}])


def test_serve_url_limit_follows_the_setting() -> None:
    settings = Settings(server_max_url_length=100)
    limits = ServeLimits.from_settings(settings, httptools=True)
    assert (limits.url_length, limits.line_length) == (100, 1124)
    # httptools cannot parse a longer target: the server answers 414 itself beyond it.
    huge = ServeLimits.from_settings(Settings(server_max_url_length=10**6), httptools=True)
    assert (huge.url_length, huge.line_length) == (65535, 65535 + len(b"GET  HTTP/1.1\n"))
    h11 = ServeLimits.from_settings(Settings(server_max_url_length=10**6), httptools=False)
    assert (h11.url_length, h11.line_length) == (10**6, 10**6 + 1024)


# -- 5. responses nobody reads ----------------------------------------------------------------
def test_unread_responses_are_dropped(api_db: PostgresCluster, tmp_path: Path) -> None:
    """12 clients ask for a 4.3 MB response each and read nothing: the server drops them
    (send timeout 2 s, at most 8 MB of unsent responses) and its memory is released."""
    query = b"GET /rpc/count_to?n=600000 HTTP/1.1\r\nHost: x\r\n\r\n"
    with launch(
        api_db,
        tmp_path / "serve.log",
        server_send_timeout="2",
        server_max_unsent_size=str(8 * 1024 * 1024),
        db_pool="2",
    ) as server:
        full = len(httpx.get(server.base + "/rpc/count_to?n=600000").content)
        assert full > 4_000_000
        before = server.memory_mb()
        clients = []
        for _ in range(12):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.settimeout(PATIENCE)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(query)
            clients.append(sock)
        try:
            deadline = time.monotonic() + PATIENCE
            while server.connections() < len(clients):  # all accepted
                assert time.monotonic() < deadline, "the server did not accept the clients"
                time.sleep(0.05)
            while server.connections() > 0:
                assert time.monotonic() < deadline, "unread responses are still held"
                time.sleep(0.2)
            growth = server.memory_mb() - before
            assert growth < MAX_GROWTH_MB, f"peak RSS grew by {growth} MB"
            for sock in clients:  # what reached the kernel before the drop, not the response
                received = 0
                try:
                    while chunk := sock.recv(1 << 20):
                        received += len(chunk)
                except ConnectionResetError:
                    pass
                assert received < full
        finally:
            for sock in clients:
                sock.close()
        assert httpx.get(server.base + "/items?limit=1").status_code == 200
