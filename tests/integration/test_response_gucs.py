"""Item 6: whatever ``response.status`` and ``response.headers`` a function sets, the response
stays one valid HTTP message — in process (``httpx.ASGITransport``) and under a real uvicorn on
a kept-alive connection."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from pgrest_asgi.testing import PostgresCluster
from tests.integration.test_cli import port_of, serve_env, serving

JSON = "application/json; charset=utf-8"
BAD_STATUS = (
    b'{"code":"PGRST112","details":null,"hint":null,'
    b'"message":"response.status guc must be a valid status code"}'
)
BAD_HEADERS = (
    b'{"code":"PGRST111","details":null,"hint":null,'
    b'"message":"response.headers guc must be a JSON array composed of objects with a single '
    b'key and a string value"}'
)
BODY = b'{"body" : "that a status without content must not send"}'


def respond(status: str | None = None, headers: Any = None) -> str:
    """The URL of a call that sets these GUCs (``headers`` as JSON, unless already text)."""
    params: dict[str, str] = {}
    if status is not None:
        params["status"] = status
    if headers is not None:
        params["headers"] = headers if isinstance(headers, str) else json.dumps(headers)
    return f"/rpc/rg_respond?{httpx.QueryParams(params)}"


def names(resp: httpx.Response) -> list[bytes]:
    return [name.lower() for name, _ in resp.headers.raw]


async def test_a_status_with_content_keeps_its_body(client: httpx.AsyncClient) -> None:
    resp = await client.get(respond("202", [{"X-A": "1"}]))
    assert (resp.status_code, resp.content) == (202, BODY)
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-length"] == str(len(BODY))
    assert resp.headers["x-a"] == "1"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_304_is_sent_without_content(client: httpx.AsyncClient, method: str) -> None:
    resp = await client.request(method, respond("304", [{"ETag": '"v1"'}]))
    assert (resp.status_code, resp.content) == (304, b"")
    assert resp.headers["etag"] == '"v1"'
    assert b"content-length" not in names(resp)
    assert b"content-type" not in names(resp)
    assert b"transfer-encoding" not in names(resp)


async def test_204_is_sent_without_content(client: httpx.AsyncClient) -> None:
    resp = await client.get(respond("204"))
    assert (resp.status_code, resp.content) == (204, b"")
    assert b"content-length" not in names(resp)
    assert b"content-type" not in names(resp)
    # A Content-Type or Content-Length the function set does not bring one back.
    resp = await client.get(
        respond("204", [{"Content-Type": "text/plain"}, {"Content-Length": "5"}])
    )
    assert (resp.status_code, resp.content) == (204, b"")
    assert b"content-length" not in names(resp)
    assert b"content-type" not in names(resp)


async def test_205_is_sent_with_an_empty_body(client: httpx.AsyncClient) -> None:
    resp = await client.get(respond("205"))
    assert (resp.status_code, resp.content) == (205, b"")
    assert resp.headers["content-length"] == "0"
    assert b"content-type" not in names(resp)


@pytest.mark.parametrize("status", ["100", "101", "103", "199", "99", "600", "abc", "2OO", "²"])
async def test_an_interim_or_invalid_status_is_pgrst112(
    client: httpx.AsyncClient, status: str
) -> None:
    resp = await client.get(respond(status))
    assert (resp.status_code, resp.content) == (500, BAD_STATUS)
    assert resp.headers["content-type"] == JSON


@pytest.mark.parametrize(
    "headers",
    [
        [{"X-A": "a\r\nX-Injected: 1"}],
        [{"X-A": "a\nb"}],
        [{"X-A": "a\rb"}],
        '[{"X-A": "a\\u0000b"}]',
        [{"X-A": "a\x7fb"}],
        [{"X-A": "a\x01b"}],
        [{"X-A": "a\x0bb"}],
        [{"X-A\r\nX-Injected": "1"}],
        [{"X A": "1"}],
        [{"X-A:": "1"}],
        [{"": "1"}],
        [{"X\x01A": "1"}],
        [{"X-\u00e9": "1"}],
        [{"X-A": "\u20ac"}],
    ],
)
async def test_a_header_that_is_no_valid_field_is_pgrst111(
    client: httpx.AsyncClient, headers: Any
) -> None:
    resp = await client.get(respond("200", headers))
    assert (resp.status_code, resp.content) == (500, BAD_HEADERS)
    assert resp.headers["content-type"] == JSON
    assert b"x-injected" not in names(resp)


@pytest.mark.parametrize(
    "headers",
    [
        "not json",
        "[",
        '[{"X-A": "1"}',
        "[{'X-A': '1'}]",
        '[{"X-A": "1"}] trailing',
        '[{"X-A": "1"},]',
        '[{"X-A": NaN}]',
        "X-A: 1",
        "null",
        "1",
        '"X-A: 1"',
        '{"X-A": "1"}',
        "[1]",
        "[[]]",
        '[["X-A", "1"]]',
        "[{}]",
        '[{"X-A": "1", "X-B": "2"}]',
        '[{"X-A": 1}]',
        '[{"X-A": null}]',
        '[{"X-A": ["1"]}]',
    ],
)
async def test_response_headers_that_are_no_json_array_of_pairs_are_pgrst111(
    client: httpx.AsyncClient, headers: str
) -> None:
    """SEC-70: a ``response.headers`` that is not JSON at all, or JSON of another shape than
    an array of one-key objects with string values, is 500 PGRST111, byte for byte; none of
    its headers is sent."""
    resp = await client.get(respond("201", headers))
    assert (resp.status_code, resp.content) == (500, BAD_HEADERS)
    assert resp.headers["content-type"] == JSON
    assert resp.headers["content-length"] == str(len(BAD_HEADERS))
    assert resp.headers["proxy-status"] == "PostgREST; error=PGRST111"
    assert b"x-a" not in names(resp) and b"x-b" not in names(resp)


async def test_an_empty_response_headers_setting_is_unset(client: httpx.AsyncClient) -> None:
    """An empty ``response.headers`` is no setting at all (as ``nullif(…, '')`` in PostgREST),
    not a JSON error; an empty array sets no header."""
    for headers in ("", "[]"):
        resp = await client.get(respond("201", headers))
        assert (resp.status_code, resp.content) == (201, BODY)
        assert resp.headers["content-length"] == str(len(BODY))


async def test_spaces_around_a_header_value_are_dropped(client: httpx.AsyncClient) -> None:
    resp = await client.get(respond(None, [{"X-A": " \ta  b\t "}, {"X-B": ""}]))
    assert resp.status_code == 200
    assert (b"x-a", b"a  b") in resp.headers.raw
    assert (b"x-b", b"") in resp.headers.raw


# -- under uvicorn: one kept-alive connection ------------------------------------------------
class _Responses:
    """Reads HTTP/1.1 responses off a socket as a client must (RFC 9112 §6.3): no content
    after 1xx, 204 and 304, whatever the headers say; else Content-Length or chunked."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        #: The header fields of the last response read, in order, repeats kept.
        self.fields: list[tuple[bytes, bytes]] = []

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the server closed the connection; unread: {self.buffer!r}")
        self.buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._more()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._more()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read(self) -> tuple[bytes, dict[bytes, bytes], bytes]:
        status_line = self._line()
        assert status_line.startswith(b"HTTP/1.1 "), f"not a status line: {status_line!r}"
        headers: dict[bytes, bytes] = {}
        self.fields = []
        while line := self._line():
            name, _, value = line.partition(b":")
            headers[name.lower()] = value.strip()
            self.fields.append((name.lower(), value.strip()))
        code = int(status_line.split(b" ")[1])
        if code < 200 or code in (204, 304):
            body = b""
        elif headers.get(b"transfer-encoding") == b"chunked":
            body = b""
            while size := int(self._line(), 16):
                body += self._take(size)
                assert self._line() == b""
            assert self._line() == b""
        else:
            body = self._take(int(headers[b"content-length"]))
        return status_line, headers, body


def test_no_desync_on_a_kept_alive_connection_under_uvicorn(api_db: PostgresCluster) -> None:
    """A 304 that carried its function's body (with a Content-Length) made the next response
    on the connection start with that body; a 204 with a body made uvicorn drop the
    connection; a header value uvicorn refuses did too. One connection now carries all of
    them, each followed by a normal read."""
    env = serve_env(api_db)
    read_one = b"/items?select=id&id=eq.1"
    with (
        serving(["serve"], env) as base,
        socket.create_connection(("127.0.0.1", port_of(base)), timeout=10) as s,
    ):
        responses = _Responses(s)

        def get(target: str | bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
            path = target.encode() if isinstance(target, str) else target
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: test\r\n\r\n")
            return responses.read()

        # The next response is read first: on a desync, it starts with the 304's body.
        status, headers, _ = get(respond("304", [{"ETag": '"v1"'}]))
        assert get(read_one)[::2] == (b"HTTP/1.1 200 OK", b'[{"id":1}]')
        assert (status, headers[b"etag"]) == (b"HTTP/1.1 304 Not Modified", b'"v1"')
        assert b"content-length" not in headers and b"transfer-encoding" not in headers

        status, headers, _ = get(respond("204"))
        assert get(read_one)[::2] == (b"HTTP/1.1 200 OK", b'[{"id":1}]')
        assert status == b"HTTP/1.1 204 No Content"
        assert b"content-length" not in headers and b"transfer-encoding" not in headers

        status, headers, body = get(respond("200", [{"X-A": "a\x7fb"}]))
        assert (status, body) == (b"HTTP/1.1 500 Internal Server Error", BAD_HEADERS)
        assert get(read_one)[::2] == (b"HTTP/1.1 200 OK", b'[{"id":1}]')

        status, _, body = get(respond("101", [{"Upgrade": "websocket"}]))
        assert (status, body) == (b"HTTP/1.1 500 Internal Server Error", BAD_STATUS)
        assert get(read_one)[::2] == (b"HTTP/1.1 200 OK", b'[{"id":1}]')
        # Nothing was left over on the connection.
        s.settimeout(0.2)
        with pytest.raises(TimeoutError):
            s.recv(1)


#: ``response.headers`` values that try to set the framing of a response with a body.
FRAMING = [
    [{"Content-Length": "5"}],
    [{"Content-Length": "100000"}],
    [{"CONTENT-LENGTH": "0"}],
    [{"Content-Length": "-1"}],
    [{"Content-Length": "abc"}],
    [{"Transfer-Encoding": "chunked"}],
    [{"Transfer-Encoding": "gzip, chunked"}, {"Content-Length": "3"}],
    [{"Content-Length": "3"}, {"X-A": "1"}, {"Content-Length": "4"}],
]
FRAMING_NAMES = (b"content-length", b"transfer-encoding")


@pytest.mark.parametrize("headers", FRAMING)
async def test_framing_headers_from_a_function_are_ignored(
    client: httpx.AsyncClient, headers: Any
) -> None:
    """SEC-72: a ``Content-Length`` or ``Transfer-Encoding`` that a function sets on a
    response with a body is dropped: the body, and its one ``Content-Length``, are ours."""
    resp = await client.get(respond("200", headers))
    assert (resp.status_code, resp.content) == (200, BODY)
    assert [v for n, v in resp.headers.raw if n.lower() == b"content-length"] == [
        str(len(BODY)).encode()
    ]
    assert b"transfer-encoding" not in names(resp)
    assert resp.headers["content-type"] == JSON


def test_framing_headers_keep_the_body_intact_under_uvicorn(api_db: PostgresCluster) -> None:
    """SEC-72 [uvicorn]: whatever ``Content-Length`` or ``Transfer-Encoding`` a function sets,
    the body arrives whole, framed by one right ``Content-Length``, and the next response on
    the kept-alive connection starts where it should (a wrong length would cut the body or
    run into the next response)."""
    env = serve_env(api_db)
    read_one = b"/items?select=id&id=eq.1"
    with (
        serving(["serve"], env) as base,
        socket.create_connection(("127.0.0.1", port_of(base)), timeout=10) as s,
    ):
        responses = _Responses(s)

        def get(target: str | bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
            path = target.encode() if isinstance(target, str) else target
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: test\r\n\r\n")
            return responses.read()

        for headers in FRAMING:
            status, _, body = get(respond("200", headers))
            assert (status, body) == (b"HTTP/1.1 200 OK", BODY), headers
            framing = [(n, v) for n, v in responses.fields if n in FRAMING_NAMES]
            assert framing == [(b"content-length", str(len(BODY)).encode())], headers
            assert get(read_one)[::2] == (b"HTTP/1.1 200 OK", b'[{"id":1}]'), headers
        # Nothing was left over on the connection.
        s.settimeout(0.2)
        with pytest.raises(TimeoutError):
            s.recv(1)
