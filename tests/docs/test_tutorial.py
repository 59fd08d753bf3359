"""docs/tutorial.md, then the quick start of docs/index.md, run as a reader would: every
block, in order, and every output compared.

Each fenced block of the tutorial is preceded by a marker comment that says what it is:

- ``<!-- step: install -->``: the install command (checked against the environment the tests
  run in: the ``pgrest-asgi`` command and uvicorn are there);
- ``<!-- step: sql DBNAME -->``: SQL a superuser runs in ``DBNAME`` (``psql``);
- ``<!-- step: file NAME -->``: a file the reader saves as ``NAME``;
- ``<!-- step: shell -->``: shell lines: ``export NAME="value"``, ``export NAME=$(python
  FILE)``, ``python FILE``, ``pgrest-asgi`` (started in the background) and ``curl`` commands;
- ``<!-- step: output -->``: what the previous command prints: a body (``json``, compared as
  JSON, key order included), a status line with some headers and a body (``http``, after
  ``curl -i``: the status, each header shown and the body are compared exactly), or text
  (``text``, compared line for line).

``<!-- step: browse URL -->`` (no block) is a page the reader opens in a browser. In shell
blocks, ``uvicorn MODULE:APP --port N`` starts a server too, and ``#`` lines are comments.

The database is a throwaway cluster of its own (the tutorial creates cluster-wide roles), in
which ``authenticator`` must log in with the tutorial's password (scram), as it would on a
real server. The API is a real ``pgrest-asgi`` (or ``uvicorn``) process on a loopback port
the kernel picks; ``curl`` commands are sent with httpx. Differences from the reader's
machine, all of them addresses: ``localhost:5432`` is the cluster's unix socket (in the
``PGRST_DB_URI`` variable and in files), ``localhost:3000`` and ``localhost:8000`` are the
servers' ports, and the servers listen on 127.0.0.1.
"""

from __future__ import annotations

import http
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from pgrest_asgi.testing import PostgresCluster

DOCS = Path(__file__).parents[2] / "docs"
TUTORIAL = DOCS / "tutorial.md"
INDEX = DOCS / "index.md"
#: Generous: a loaded 2-core machine starts a Python server slowly.
PATIENCE = 60.0
PG_URI = re.compile(r"postgresql://[^\s\"']+")

MARKER = re.compile(r"<!-- step: (?P<kind>[a-z]+)(?: (?P<arg>[^>]*?))? -->\n")
FENCE = re.compile(r"^```(?P<lang>\w*)[^\n]*\n(?P<body>.*?)^```\n", re.S | re.M)


@dataclass
class Step:
    kind: str
    arg: str
    lang: str
    body: str
    line: int

    def __str__(self) -> str:
        return f"line {self.line} ({self.kind} {self.arg})".rstrip()


def steps(text: str) -> list[Step]:
    """The marked steps in order; every fenced block must be marked."""
    found = []
    marked_fences = set()
    for marker in MARKER.finditer(text):
        kind, arg = marker.group("kind"), marker.group("arg") or ""
        line = text.count("\n", 0, marker.start()) + 1
        if kind == "browse":
            found.append(Step(kind, arg, "", "", line))
            continue
        fence = FENCE.match(text, marker.end())
        assert fence is not None, f"line {line}: a step marker must precede its block"
        marked_fences.add(fence.start())
        found.append(Step(kind, arg, fence.group("lang"), fence.group("body"), line))
    unmarked = [
        text.count("\n", 0, fence.start()) + 1
        for fence in FENCE.finditer(text)
        if fence.start() not in marked_fences
    ]
    assert unmarked == [], f"blocks without a step marker (lines {unmarked}): mark them"
    return found


def test_every_block_is_a_step() -> None:
    found = steps(TUTORIAL.read_text(encoding="utf-8"))
    kinds = {step.kind for step in found}
    assert kinds == {"install", "sql", "file", "shell", "output", "browse"}
    assert sum(step.kind == "output" for step in found) >= 8
    quick = steps(INDEX.read_text(encoding="utf-8"))
    assert [step.kind for step in quick] == ["install", "file", "shell", "output"]


# -- running the steps ----------------------------------------------------------------------


@dataclass
class Printed:
    """What the last command printed: an HTTP response, or a program's standard output."""

    response: httpx.Response | None = None
    head: bool = False
    stdout: str | None = None


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@dataclass
class Reader:
    """The reader's machine: their database, terminal variables, files and server."""

    cluster: PostgresCluster
    workdir: Path
    logs: ExitStack
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    #: The address a page shows (``http://localhost:3000``) → the server's real one.
    bases: dict[str, str] = field(default_factory=dict)
    servers: list[Server] = field(default_factory=list)
    last: Printed | None = None
    #: A ``reload schema`` was notified: the next request waits until it took effect.
    after_reload: bool = False

    # -- addresses -------------------------------------------------------------------------
    def local_uri(self, uri: str) -> str:
        """The tutorial's ``postgresql://user:password@localhost:5432/db``, pointed at the
        cluster's socket (user, password and database kept)."""
        parts = urlsplit(uri)
        assert (parts.hostname, parts.port) in {("localhost", 5432), ("localhost", None)}, uri
        user = quote(parts.username or "", safe="")
        password = quote(parts.password or "", safe="")
        host = quote(self.cluster.host, safe="")
        return f"postgresql://{user}:{password}@{parts.path}?host={host}&port={self.cluster.port}"

    def local_url(self, url: str) -> str:
        parts = urlsplit(url)
        shown = f"{parts.scheme}://{parts.netloc}"
        assert shown in self.bases, f"{url}: no server was started there"
        return self.bases[shown] + url[len(shown) :]

    def local_file(self, name: str) -> str:
        """A file as the reader saved it, with the addresses of this machine."""
        text = self.files[name]
        for shown, real in self.bases.items():
            text = text.replace(shown, real)
        return PG_URI.sub(lambda found: self.local_uri(found.group(0)), text)

    def expand(self, word: str) -> str:
        """``$NAME`` from the exported variables (the tutorial uses no other expansion)."""

        def value(found: re.Match[str]) -> str:
            assert found.group(1) in self.env, f"${found.group(1)} was never exported"
            return self.env[found.group(1)]

        return re.sub(r"\$([A-Z_][A-Z0-9_]*)", value, word)

    # -- steps -----------------------------------------------------------------------------
    def run(self, step: Step) -> None:
        if step.kind == "install":
            self.install(step.body)
        elif step.kind == "sql":
            self.cluster.run_sql(step.body, dbname=step.arg)
            if "NOTIFY pgrst, 'reload schema'" in step.body:
                self.after_reload = True
        elif step.kind == "file":
            self.files[step.arg] = step.body
        elif step.kind == "shell":
            for command in commands(step.body):
                self.shell(command)
        elif step.kind == "output":
            self.compare(step)
        elif step.kind == "browse":
            response = httpx.get(self.local_url(step.arg), timeout=30)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/html"), response.headers
        else:
            raise AssertionError(f"{step}: unknown step")

    def install(self, body: str) -> None:
        assert body == "pip install 'pgrest-asgi[server]'\n"
        # What that install provides, in the environment the tests run in.
        (command,) = importlib.metadata.entry_points(group="console_scripts", name="pgrest-asgi")
        assert command.value == "pgrest_asgi.cli:main"
        for module in ("uvicorn", "psycopg_binary", "swagger_ui"):
            assert importlib.util.find_spec(module) is not None, module

    def shell(self, command: str) -> None:
        exported = re.fullmatch(r"export ([A-Z_][A-Z0-9_]*)=\$\(python ([\w.]+)\)", command)
        if exported:
            self.env[exported.group(1)] = self.python(exported.group(2)).strip()
            return
        words = shlex.split(command)
        if words[0] == "#":
            return
        if words[0] == "export":
            (assignment,) = words[1:]
            name, value = assignment.split("=", 1)
            self.env[name] = self.expand(value)
        elif words == ["pgrest-asgi"]:
            self.start_pgrest()
        elif words[0] == "uvicorn":
            self.start_uvicorn(words[1:])
        elif words[0] == "python":
            (script,) = words[1:]
            self.last = Printed(stdout=self.python(script))
        elif words[0] == "curl":
            self.last = self.curl(words[1:])
        else:
            raise AssertionError(f"the test cannot run {command!r}: teach it, or change the page")

    def python(self, name: str) -> str:
        (self.workdir / name).write_text(self.local_file(name), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, name],
            cwd=self.workdir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def curl(self, words: list[str]) -> Printed:
        method, headers, data, url, head = "GET", [], None, None, False
        args = iter(words)
        for word in args:
            if word == "-i":
                head = True
            elif word == "-X":
                method = next(args)
            elif word == "-H":
                name, value = self.expand(next(args)).split(":", 1)
                headers.append((name.strip(), value.strip()))
            elif word == "-d":
                data = self.expand(next(args))
                if method == "GET":
                    method = "POST"  # as curl does
            elif not word.startswith("-") and url is None:
                url = self.local_url(word)
            else:
                raise AssertionError(f"curl option {word!r}: teach the test, or change the page")
        assert url is not None
        if self.after_reload:
            self.wait_for_reload(url, headers)
            self.after_reload = False
        if data is not None and not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))  # curl's -d
        response = httpx.request(method, url, headers=headers, content=data, timeout=30)
        return Printed(response=response, head=head)

    def wait_for_reload(self, url: str, headers: list[tuple[str, str]]) -> None:
        """After ``NOTIFY pgrst, 'reload schema'`` the reader's next request finds the new
        function; here, a bounded poll of the OpenAPI document (as the next request's caller)
        for its path, so that request is never sent early."""
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}/"
        auth = [(k, v) for k, v in headers if k.lower() == "authorization"]
        deadline = time.monotonic() + PATIENCE
        while parts.path not in httpx.get(root, headers=auth, timeout=30).json()["paths"]:
            assert time.monotonic() < deadline, f"{parts.path} not served after the reload"
            time.sleep(0.1)

    def start_pgrest(self) -> None:
        env = {**os.environ, **self.env}
        env["PGRST_DB_URI"] = self.local_uri(self.env["PGRST_DB_URI"])
        port = self.env.get("PGRST_SERVER_PORT", "3000")  # 3000: server-port's default
        env.update(PGRST_SERVER_HOST="127.0.0.1", PGRST_SERVER_PORT="0", PGRST_LOG_LEVEL="info")
        self.start(
            f"http://localhost:{port}",
            [sys.executable, "-m", "pgrest_asgi.cli"],
            env,
            r"running on (http://127\.0\.0\.1:\d+)",
        )

    def start_uvicorn(self, args: list[str]) -> None:
        target, option, port = args
        assert option == "--port", args
        for name in self.files:
            (self.workdir / name).write_text(self.local_file(name), encoding="utf-8")
        self.start(
            f"http://localhost:{port}",
            [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", "0"],
            {**os.environ, **self.env},
            r"Uvicorn running on (http://127\.0\.0\.1:\d+)",
        )

    def start(self, shown: str, args: list[str], env: dict[str, str], running: str) -> None:
        """Start a server, and wait (bounded) until it has said where it listens and
        answers; the page's address ``shown`` then means it."""
        log = self.logs.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 (closed by logs)
        server = Server(
            subprocess.Popen(args, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT),
            log,
        )
        self.servers.append(server)
        deadline = time.monotonic() + PATIENCE
        while (found := re.search(running, server.output())) is None:
            assert server.process.poll() is None, server.output()
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        base = found.group(1)
        while True:  # up, and its start-up done: it answers
            try:
                httpx.get(base + "/", timeout=5)
                break
            except httpx.HTTPError:
                pass
            assert server.process.poll() is None, server.output()
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        self.bases[shown] = base

    def stop(self) -> None:
        for server in self.servers:
            server.process.terminate()
            server.process.wait(timeout=30)

    # -- outputs ---------------------------------------------------------------------------
    def compare(self, step: Step) -> None:
        printed, self.last = self.last, None
        assert printed is not None, f"{step}: an output with no command before it"
        if printed.stdout is not None:
            assert step.lang == "text", step
            assert printed.stdout == step.body, f"{step}: the script printed {printed.stdout!r}"
            return
        response = printed.response
        assert response is not None
        body = step.body
        if printed.head:
            assert step.lang == "http", f"{step}: curl -i prints the status line and headers"
            head, body = step.body.split("\n\n", 1)
            status_line, *header_lines = head.splitlines()
            status = http.HTTPStatus(response.status_code)
            assert status_line == f"{response.http_version} {status.value} {status.phrase}", (
                f"{step}: {response.status_code} {response.text}"
            )
            for line in header_lines:
                name, value = line.split(": ", 1)
                assert response.headers.get(name) == value, f"{step}: {name}: {response.headers}"
        else:
            assert step.lang == "json", step
            assert response.is_success, f"{step}: {response.status_code} {response.text}"
        assert ordered(response.content) == ordered(body), f"{step}: {response.text}"


def ordered(text: str | bytes) -> Any:
    """JSON with objects as lists of pairs, so key order counts."""
    return json.loads(text, object_pairs_hook=list)


def commands(body: str) -> list[str]:
    """Shell lines, with backslash continuations joined."""
    return [line.strip() for line in body.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    cluster = PostgresCluster(hba=["local all authenticator scram-sha-256"])
    cluster.start()
    try:
        with ExitStack() as logs:
            person = Reader(cluster, tmp_path, logs)
            try:
                yield person
            finally:
                person.stop()
    finally:
        cluster.stop()


def test_tutorial_then_quick_start(reader: Reader) -> None:
    for page in (TUTORIAL, INDEX):
        for step in steps(page.read_text(encoding="utf-8")):
            try:
                reader.run(step)
            except AssertionError as exc:
                raise AssertionError(f"{page.name}, {step}: {exc}") from exc
        assert reader.last is None, f"{page.name}: the last command's output is not shown"
