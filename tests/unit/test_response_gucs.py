"""``response.status``/``response.headers`` → a response that is still one valid HTTP message
(item 6), without a database."""

from __future__ import annotations

import pytest

from pgrest_asgi.errors import ApiRequestError
from pgrest_asgi.response.build import Response, apply_response_gucs

JSON = b"application/json; charset=utf-8"


def _read() -> Response:
    return Response(200, [(b"content-type", JSON), (b"content-range", b"0-0/*")], b'[{"id":1}]')


def _code(headers: bytes | None, status: bytes | None) -> str:
    with pytest.raises(ApiRequestError) as info:
        apply_response_gucs(_read(), headers, status)
    assert info.value.status == 500
    return info.value.code


@pytest.mark.parametrize(
    "status",
    [
        b"100",
        b"101",
        b"103",
        b"199",
        b"099",
        b"600",
        b"abc",
        b"",
        b"2 0",
        "²".encode(),
        "٢٠٠".encode(),
        b"9" * 5000,
        b"-200",
        b"+200",
        b"200.0",
    ],
)
def test_status_that_is_no_final_status_is_pgrst112(status: bytes) -> None:
    assert _code(None, status) == "PGRST112"


@pytest.mark.parametrize(
    ("status", "head", "headers"),
    [
        (b"204", True, [(b"content-range", b"0-0/*")]),
        (b"304", True, [(b"content-range", b"0-0/*")]),
        (b"205", False, [(b"content-range", b"0-0/*")]),
    ],
)
def test_status_without_content_drops_the_body(
    status: bytes, head: bool, headers: list[tuple[bytes, bytes]]
) -> None:
    out = apply_response_gucs(_read(), None, status)
    assert (out.status, out.head, out.headers, out.body) == (int(status), head, headers, b"")


def test_status_with_content_keeps_the_body() -> None:
    out = apply_response_gucs(_read(), None, b" 201 ")
    assert (out.status, out.head, out.body) == (201, False, b'[{"id":1}]')


@pytest.mark.parametrize(
    "headers",
    [
        b'[{"X-A": "a\\r\\nX-B: b"}]',
        b'[{"X-A": "a\\u0000"}]',
        b'[{"X-A": "a\\u000bb"}]',
        b'[{"X-A": "a\\u007f"}]',
        b'[{"X A": "1"}]',
        b'[{"X-A\\r\\n": "1"}]',
        b'[{"X\\u0001A": "1"}]',
        b'[{"X-\\u00e9": "1"}]',
        b'[{"X-(A)": "1"}]',
        b'[{"": "1"}]',
        b'[{"X-A": "\\u20ac"}]',
    ],
)
def test_header_that_is_no_valid_field_is_pgrst111(headers: bytes) -> None:
    assert _code(headers, None) == "PGRST111"


def test_valid_headers_are_added() -> None:
    headers = b'[{"X-A": " a\\tb "}, {"Cache-Control": "no-store"}, {"x~!#$%&\'*+.^_`|": "ok"}]'
    out = apply_response_gucs(_read(), headers, None)
    assert out.headers[-3:] == [
        (b"x-a", b"a\tb"),
        (b"cache-control", b"no-store"),
        (b"x~!#$%&'*+.^_`|", b"ok"),
    ]
