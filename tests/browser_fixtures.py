"""Debian's Chromium driven by Playwright against the live server, for the
browser tests (marker `browser`). Without /usr/bin/chromium they fail (CI
installs it); they never skip."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    with pytest.MonkeyPatch.context() as monkeypatch, sync_playwright() as playwright:
        # Playwright's sync API keeps an asyncio loop on this thread between
        # its calls, which Django's async-safety check takes for async code;
        # the tests' own ORM calls (and the database flush after each) are
        # plain synchronous ones.
        monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def site(live_server, settings, smtp_sink) -> str:
    """The live server, with the links in mails pointing at it."""
    settings.SITE_URL = live_server.url
    return live_server.url


@pytest.fixture
def page(browser, site) -> Page:
    context = browser.new_context(base_url=site)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()
