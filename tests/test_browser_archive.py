"""Browsing a public archive in a real browser (Debian's Chromium driven by
Playwright against the live server): from the list's page to the archive,
a month, a thread whose replies fold away, and one message."""

import pytest
from playwright.sync_api import expect

from tests.archive_mail import conversation

pytest_plugins = ["tests.mail_fixtures", "tests.browser_fixtures"]
pytestmark = pytest.mark.browser


def test_a_reader_browses_from_the_list_to_a_message(page, mlist):
    talk = conversation(mlist)
    page.goto("/lists/ant.example.com/")
    page.get_by_role("link", name="Browse the archive").click()
    expect(page.locator("h1")).to_contain_text("The archive of")
    page.get_by_role("link", name="January 2024").click()
    page.get_by_role("link", name="Where do ants sleep?").click()

    root = page.locator(f"#m-{talk['root'].message_id_hash}")
    deeper = page.locator(f"#m-{talk['deeper'].message_id_hash}")
    expect(root).to_contain_text("In the nest, I think.")
    expect(deeper.locator("pre")).to_be_visible()
    # Folding a message folds its replies away with it.
    root.locator("summary .sender").first.click()
    expect(deeper.locator("pre")).to_be_hidden()
    expect(deeper).to_have_count(1)
    root.locator("summary .sender").first.click()
    expect(deeper.locator("pre")).to_be_visible()

    deeper.get_by_role("link", name="Re: Where do ants sleep?").click()
    expect(page.locator("h1")).to_have_text("Re: Where do ants sleep?")
    expect(page.locator("pre.message-text")).to_contain_text("How deep?")
    expect(page.locator(".headers")).to_contain_text("ann at example.org")
    page.get_by_role("link", name="Previous in thread").click()
    expect(page.locator("pre.message-text")).to_contain_text("Deep underground.")
    expect(page.locator("a.reply")).to_have_attribute(
        "href", "mailto:ant@example.com?In-Reply-To=%3Creply%40x%3E&Subject=Re%3A%20Where%20do%20ants%20sleep%3F"
    )
