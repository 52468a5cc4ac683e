"""Fixtures: real ``journeytrace serve`` subprocesses on free ports, and httpx clients for them.

- ``server_factory(*args, env=..., start=True)`` starts a dedicated server (extra CLI args) for
  one test; it is stopped (or killed) when the test ends.
- ``module_server`` is one server shared by every test of a module; at the end of the module it
  must exit 0 on SIGTERM.
- ``browser`` is one headless Chromium (Debian's, driven by Playwright) for the session; the
  browser tests save screenshots with ``jt_helpers.screenshot``.
- On a failing test, the logs of every server still alive are attached to the report.
"""

from __future__ import annotations

import itertools
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from jt_helpers import Server

# Hypothesis keeps caches (and example databases) in ./.hypothesis; keep them out of the work tree.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "journeytrace-tests-hypothesis")

_LIVE: list[Server] = []
_counter = itertools.count(1)


def _new_server(base: Path, args: tuple[str, ...], env: dict[str, str] | None, **kwargs) -> Server:
    n = next(_counter)
    server = Server(base / f"data-{n}", base / f"logs-{n}", args=args, env=env, **kwargs)
    _LIVE.append(server)
    return server


def _forget(server: Server) -> None:
    server.ensure_stopped()
    if server in _LIVE:
        _LIVE.remove(server)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    created: list[Server] = []

    def make(*args: str, env: dict[str, str] | None = None, start: bool = True, **kwargs) -> Server:
        server = _new_server(tmp_path, tuple(args), env, **kwargs)
        created.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in created:
        _forget(server)


@pytest.fixture(scope="module")
def module_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module; a module may set ``SERVER_ARGS`` (extra CLI flags)."""
    args = tuple(getattr(request.module, "SERVER_ARGS", ()))
    server = _new_server(tmp_path_factory.mktemp("server"), args, None)
    server.start()
    yield server
    try:
        if server.running:
            code = server.stop(signal.SIGTERM)
            assert code == 0, f"shared server exited with {code} on SIGTERM:\n{server.log_tail()}"
        else:
            pytest.fail(f"shared server died during the module (exit {server.proc.returncode}):\n{server.log_tail()}")
    finally:
        _forget(server)


@pytest.fixture(scope="module")
def client(module_server: Server) -> Iterator[httpx.Client]:
    """An httpx client for the shared server's query API."""
    with httpx.Client(base_url=module_server.query_url, timeout=30.0) as c:
        yield c


@pytest.fixture(scope="module")
def otlp_http(module_server: Server) -> Iterator[httpx.Client]:
    """An httpx client for the shared server's OTLP/HTTP receiver."""
    with httpx.Client(base_url=module_server.http_base, timeout=30.0) as c:
        yield c


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium. `make test` installs Debian's chromium; Playwright never downloads one."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (1400×900); console errors of the page fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield opened
    context.close()
    assert not errors, f"the page reported errors: {errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in list(_LIVE):
            if server.starts:
                report.sections.append((f"journeytrace server log ({server.data_dir})", server.log_tail(8000)))
