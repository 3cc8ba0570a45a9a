"""Browser tests: the app served on 127.0.0.1 by a real HTTP server, driven by Debian's Chromium
through Playwright. Launch flags work offline and as root."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.live_server import LiveServer

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture
def live_server(make_app: Any) -> Iterator[LiveServer]:
    """The app, with jobs on the in-process worker thread as in the embedded default."""
    app = make_app(JOBS_BACKEND="thread")
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="session")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium_path = request.getfixturevalue("chromium_path")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open_page(context: Any) -> Any:
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda message: page.console_errors.append(message.text) if message.type == "error" else None)
    return page


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) per test; console errors are collected and must be empty."""
    context = browser.new_context()
    yield _open_page(context)
    context.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """``new_page(**options)``: a page in a fresh browser context with Playwright's context options
    (``viewport``, ``java_script_enabled``, ``bypass_csp`` ...); console errors are collected as
    for ``page``. The contexts close after the test."""
    contexts: list[Any] = []

    def open_page(**options: Any) -> Any:
        context = browser.new_context(**options)
        contexts.append(context)
        return _open_page(context)

    yield open_page
    for context in contexts:
        context.close()
