"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Each test opens one browser context per person (so an administrator and a studio can act in
the same story), and every page a test opened is saved as a screenshot under
tests/artifacts/screenshots/ when it ends, to be looked at."""

import json
import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import Page, sync_playwright

# Playwright's sync API runs an event loop in the test's thread; Django's ORM refuses to run
# beside one unless told that this thread is not async code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_SCRIPT = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).parent.parent / "artifacts" / "screenshots"
DEMO_PASSWORD = "guildtrust-demo"


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(item.fspath).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium(django_db_setup):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    # Under Playwright's sync API the tests run in another context, where Django's connections
    # (kept per context) are new objects: this context's are closed before it starts, and that
    # context's before it stops, ahead of the test database's drop (hence django_db_setup).
    # Left open, one was still in the database when it was dropped, and the drop failed.
    connections.close_all()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        connections.close_all()


@pytest.fixture
def demo_trust(transactional_db):
    """The same demo trust `make run` serves: admin, member and studio with history."""
    call_command("seed_demo", any_database=True, verbosity=0)


class Browser:
    """People signing in to the live server, each in their own browser context."""

    def __init__(self, chromium, base_url: str, test_name: str):
        self.chromium = chromium
        self.base_url = base_url
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.pages: list[tuple[str, Page]] = []
        self.policy_errors: list[str] = []

    def open(self, label: str = "anonymous", *, viewport=None) -> Page:
        context = self.chromium.new_context(
            base_url=self.base_url, viewport=viewport or {"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.on("console", self._watch_policies)
        self.pages.append((label, page))
        return page

    def _watch_policies(self, message):
        """Chromium reports what the Content-Security-Policy blocked (or a Permissions-Policy it
        could not read) as console errors: any one of them fails the test."""
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "Permissions-Policy" in text):
            self.policy_errors.append(f"{message.location.get('url')}: {text}")

    def sign_in(self, username: str, password: str = DEMO_PASSWORD, **kwargs) -> Page:
        page = self.open(username, **kwargs)
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        if "/accounts/login/" in page.url:
            raise AssertionError(f"{username} could not sign in")
        return page

    def screenshot(self, page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self):
        for label, page in self.pages:
            if not page.is_closed():
                self.screenshot(page, f"{label}-last")
                page.context.close()


@pytest.fixture
def browser(chromium, live_server, request):
    session = Browser(chromium, live_server.url, request.node.name)
    yield session
    session.close()
    assert not session.policy_errors, "blocked by the page's policies:\n" + "\n".join(session.policy_errors)


def axe_violations(page: Page, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core (installed from npm) in the page; the violations of the given impacts."""
    # Evaluated through DevTools, not added as an inline <script> the page's CSP would refuse.
    page.evaluate(AXE_SCRIPT.read_text())
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in impacts]


def describe(violations: list[dict]) -> str:
    return json.dumps(violations, indent=2)
