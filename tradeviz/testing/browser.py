"""Pytest plugin: the dashboards in real headless Chromium, driven by Playwright's sync API.

Fixtures: `browser` (one Chromium per session), `page` (a fresh context per test that records
console errors and page errors in `browser_errors`), `logged_in_page` (signed in as the `user`
fixture through /login/ on `live_server`, on `browser_db`). Mark such tests `@pytest.mark.browser`.

Chromium is Debian's package (Playwright's own browser download is not used). Without it the browser
tests are skipped, and the session summary says how many.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_PATH_ENV = "CHROMIUM_PATH"
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = "Chromium not found (apt-get install chromium)"
SKIP_REASON = f"{CHROMIUM_MISSING}; browser tests skipped"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
# Playwright's default is 30 s; a local page that needs longer is broken, and the test should say so soon.
TIMEOUT_MS = 10_000
# Where Django's test runner keeps the database rows serialized after migrating (serialized rollback).
SERIALIZED_CONTENTS = "_test_serialized_contents"
# The password the `user` fixture (conftest.py) is created with.
USER_PASSWORD = "trader-pass-1"  # noqa: S105


def find_chromium() -> str | None:
    """CHROMIUM_PATH when set (and it must exist), else Debian's /usr/bin/chromium, else PATH."""
    configured = os.environ.get(CHROMIUM_PATH_ENV, "").strip()
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access(DEFAULT_CHROMIUM, os.X_OK):
        return str(DEFAULT_CHROMIUM)
    return shutil.which("chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run browser tests last.

    Between its calls, Playwright's sync API leaves its event loop marked as running in the main
    thread (playwright/_impl/_greenlets.py). While the session's browser is open, an asyncio test
    could not start its own loop and Django's ORM would refuse to run, so nothing else runs after it.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser(django_db_setup: None) -> Iterator[Any]:
    executable = find_chromium()
    if executable is None:
        pytest.skip(SKIP_REASON)
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # See pytest_collection_modifyitems: the ORM calls of the tests and of live_server's database
    # fixtures happen while Playwright's loop counts as running in this thread.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    serialized = {alias: getattr(connections[alias], SERIALIZED_CONTENTS, None) for alias in connections}
    playwright = sync_playwright().start()
    # With a loop running, asgiref gives this thread another set of connection objects than the one
    # the test database was set up (and its migrated rows serialized) on: hand them the rows too, or
    # serialized rollback would silently restore nothing.
    for alias, contents in serialized.items():
        if contents is not None:
            setattr(connections[alias], SERIALIZED_CONTENTS, contents)
    try:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        # Those other connection objects are ours to close; an open one keeps the test database
        # from being dropped.
        connections.close_all()
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_errors() -> list[str]:
    """Console errors and uncaught page errors of `page`; a test asserts it is empty (or clears the ones it expects)."""
    return []


@pytest.fixture
def page(browser: Any, browser_errors: list[str]) -> Iterator[Any]:
    # Neither UTC nor IST: a page that leaks the browser's time zone into its display shows it.
    context = browser.new_context(viewport=VIEWPORT, locale="en-IN", timezone_id="America/New_York")
    context.set_default_timeout(TIMEOUT_MS)
    # Chromium asks for /favicon.ico by itself; the site has no icon, and that 404 is no page's error.
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    # live_server speaks HTTP only: a page's WebSockets (/ws/...) get a silent stand-in that accepts
    # and never sends, unless the test routes them itself (page.route_web_socket wins).
    context.route_web_socket(re.compile(r"/ws/"), lambda ws: None)
    browser_page = context.new_page()

    def on_console(message: Any) -> None:
        if message.type == "error":
            browser_errors.append(f"console.error: {message.text} ({message.location.get('url', '')})")

    browser_page.on("console", on_console)
    browser_page.on("pageerror", lambda error: browser_errors.append(f"page error: {error}"))
    yield browser_page
    context.close()
    # A test that never looked still fails on a console error.
    if browser_errors:
        pytest.fail("browser errors: " + "; ".join(browser_errors), pytrace=False)


@pytest.fixture(scope="session")
def _migrated_rows_put_back(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """After the last browser test, put back the rows that migrations created.

    A test on live_server commits, so its database is emptied by TRUNCATE when it ends. That also
    removes what data migrations seeded (holidays, schedules), and `--reuse-db` would start the next
    run without them. Browser tests run last; this runs after them.
    """
    yield
    from django.db import connection

    contents = getattr(connection, SERIALIZED_CONTENTS, None)
    if contents:
        with django_db_blocker.unblock():
            connection.creation.deserialize_db_from_string(contents)


@pytest.fixture
def browser_db(_migrated_rows_put_back: None, django_db_serialized_rollback: None, live_server: Any) -> None:
    """The database for a test on live_server: as migrated at its start (serialized rollback), put back at the end."""


@pytest.fixture
def logged_in_page(page: Any, browser_db: None, live_server: Any, user: Any) -> Any:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(USER_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert "/login/" not in page.url, "logging in failed"
    return page


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = sum(
        1 for report in terminalreporter.stats.get("skipped", []) if SKIP_REASON in str(report.longrepr)
    )
    if skipped:
        terminalreporter.write_line(
            f"{skipped} browser test(s) skipped: {CHROMIUM_MISSING}, or set {CHROMIUM_PATH_ENV}",
            yellow=True,
            bold=True,
        )
