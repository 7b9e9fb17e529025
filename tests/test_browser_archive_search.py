"""Searching the archive in a real browser (Debian's Chromium through
Playwright): a query on the search page, then a hit opened. Without
Chromium these tests fail (CI installs it); they never skip."""

import re

import pytest
from playwright.sync_api import expect

from archive.search_indexing import index_messages
from archive.services import archive_message

pytest_plugins = ["tests.mail_fixtures", "tests.browser_fixtures"]
pytestmark = pytest.mark.browser

MESSAGE = (
    b"From: Ada <ada@example.org>\nSubject: Trophallaxis explained\nMessage-ID: <browser1@example.org>\n"
    b"Date: Fri, 01 Mar 2024 10:00:00 +0000\n\nAnts share food mouth to mouth: trophallaxis.\n"
)
OTHER = (
    b"From: Bob <bob@example.org>\nSubject: Nest moving\nMessage-ID: <browser2@example.org>\n"
    b"Date: Fri, 01 Mar 2024 11:00:00 +0000\n\nThe colony moved under the oak.\n"
)


def test_a_search_finds_a_message_and_opens_it(page, mlist):
    messages = [archive_message(mlist, raw).message for raw in (MESSAGE, OTHER)]
    index_messages([message.pk for message in messages])

    page.goto("/lists/ant.example.com/archive/search/")
    page.get_by_label("Search for").fill('"share food"')
    page.get_by_role("button", name="Search").click()
    hits = page.locator(".search-hit")
    expect(hits).to_have_count(1)
    expect(hits.first.locator("mark").first).to_have_text("share")
    hits.first.get_by_role("link", name="Trophallaxis explained").click()
    expect(page).to_have_url(re.compile(rf"/lists/ant\.example\.com/archive/message/{messages[0].message_id_hash}/$"))
    expect(page.locator("main")).to_contain_text("mouth to mouth")


def test_the_site_search_says_when_nothing_matches(page, mlist):
    index_messages([archive_message(mlist, OTHER).message.pk])
    page.goto("/search/?q=trophallaxis")
    expect(page.locator("main")).to_contain_text("No messages match.")
