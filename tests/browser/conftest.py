"""Browser fixtures: Debian's Chromium driven by Playwright's sync API, against pytest-django's live server.

Playwright is never asked to download a browser; /usr/bin/chromium is the one Debian installs (`.ci/run`
installs it when missing). Locally a missing or broken Chromium skips these tests; in CI it fails them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, need

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
]
SHOTS = REPO / "test-output" / "browser"
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 20_000


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def chromium():
    """One Chromium per test module. Playwright's sync API keeps an event loop in this thread while it runs,
    so Django's ORM, used by the test itself, is told that this is a test (Django's documented escape hatch);
    both end with the module, so the rest of the suite runs as usual."""
    need(CHROMIUM.exists(), f"Debian's chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the dev extra pins it
        need(False, f"Playwright's Python package ({exc})")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            try:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            except Exception as exc:  # noqa: BLE001 - any launch failure means "no usable browser"
                need(False, f"Chromium at {CHROMIUM} failed to start: {exc}")
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def wait_for_label_keys(page) -> None:
    """Until label.js has run: a key pressed before that (the card is visible while scripts load) is lost."""
    from playwright.sync_api import expect

    expect(page.locator("html[data-label-keys='ready']")).to_have_count(1)


class BrowserSession:
    """A page plus what the test wants around it: numbered screenshots and the problems the page reported."""

    def __init__(self, page, base_url: str, shots: Path):
        self.page = page
        self.base_url = base_url
        self.shots = shots
        self.problems: list[str] = []
        # (method, URL, sent by htmx) of every request the page made, in order.
        self.requests: list[tuple[str, str, bool]] = []
        self._count = 0
        page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
        page.on(
            "console",
            lambda msg: msg.type == "error" and self.problems.append(f"console error: {msg.text}"),
        )
        page.on(
            "request",
            lambda req: self.requests.append((req.method, req.url, req.headers.get("hx-request") == "true")),
        )
        page.on(
            "response",
            lambda res: res.status >= 400 and self.problems.append(f"{res.status} for {res.url}"),
        )
        page.on(
            "requestfailed", lambda req: self.problems.append(f"request failed: {req.url} ({req.failure})")
        )

    def second_tab(self) -> tuple[Any, list[str]]:
        """Another tab of the same browser (signed in as the first), and the problems it reports: script
        errors and answers of 400 or more."""
        tab = self.page.context.new_page()
        problems: list[str] = []
        tab.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
        tab.on("response", lambda res: res.status >= 400 and problems.append(f"{res.status} for {res.url}"))
        return tab, problems

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def sign_in(self, username: str, password: str) -> None:
        """The sign-in form, filled and sent as a person would."""
        self.page.goto("/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()

    def htmx_gets(self, path: str, since: int = 0) -> int:
        """How many htmx GETs of `path` (query string aside) the page made from request number `since` on."""
        url = self.url(path)
        return sum(
            1
            for method, u, htmx in self.requests[since:]
            if htmx and method == "GET" and u.split("?")[0] == url
        )

    def shot(self, name: str) -> Path:
        self._count += 1
        path = self.shots / f"{self._count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def browser_session(request, chromium, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    shots = SHOTS / slug
    shots.mkdir(exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    context = chromium.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    session = BrowserSession(page, live_server.url, shots)
    yield session
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        try:
            page.screenshot(path=str(shots / "failed.png"), full_page=True)
        except Exception:  # noqa: BLE001 - the screenshot is a help, not the result
            pass
    context.close()
