"""The subscription pages in a real browser: Debian's Chromium driven by
Playwright against the live server, mail caught at a real SMTP server on
loopback. Without Chromium these tests fail (CI installs it); they never skip.
"""

import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from members.models import Membership, Role
from members.one_click import one_click_url
from members.services import subscribe
from tests.browser_support import PASSWORD, log_in
from tests.conftest import make_user

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures", "tests.browser_fixtures"]
pytestmark = pytest.mark.browser

# Welcome and goodbye mails go after the commit, in the live server's thread.
MAIL_WAIT_SECONDS = 10


def mail_to(smtp_sink, address: str, count: int = 1) -> list:
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while len(smtp_sink.to(address)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return smtp_sink.to(address)


def is_member(email: str) -> bool:
    return Membership.objects.filter(address__email=email, role=Role.MEMBER).exists()


def test_subscribe_on_the_list_page_and_confirm_by_the_mailed_link(page, mlist, smtp_sink):
    page.goto("/lists/ant.example.com/")
    page.fill("#subscribe_email", "joiner@example.net")
    page.fill("#subscribe_display_name", "Jo Iner")
    page.get_by_role("button", name="Subscribe", exact=True).click()
    expect(page.locator(".outcome")).to_contain_text("Check your mailbox")

    [confirmation] = mail_to(smtp_sink, "joiner@example.net")
    (link,) = re.findall(r"https?://\S+/confirm/\S+/", confirmation.message.get_content())
    page.goto(urlsplit(link).path)
    assert not is_member("joiner@example.net"), "opening the link must not confirm"
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".outcome")).to_have_text("You are subscribed.")

    assert is_member("joiner@example.net")
    welcome = mail_to(smtp_sink, "joiner@example.net", 2)[1]
    assert "Welcome" in str(welcome.message["Subject"])


def test_change_the_delivery_mode_on_my_subscriptions(page, mlist):
    user = make_user("reader@example.org", password=PASSWORD)
    membership = subscribe(mlist, user.email)
    log_in(page, user.email)
    page.goto("/subscriptions/")
    section = page.locator(f"#membership-{membership.pk}")
    section.get_by_label("MIME digests").check()
    section.get_by_label("Send me no mail from this list for now").check()
    section.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Your choices for ant@example.com are saved.")

    membership.refresh_from_db()
    assert (membership.delivery_mode, membership.delivery_status) == ("mime_digests", "by_user")
    page.reload()
    expect(page.locator(f"#membership-{membership.pk}").get_by_label("MIME digests")).to_be_checked()


def test_unsubscribe_by_the_one_click_link(page, mlist, smtp_sink):
    subscribe(mlist, "leaver@example.net")
    page.goto(one_click_url(mlist.list_id, "leaver@example.net"))
    expect(page.locator("main")).to_contain_text("Unsubscribe leaver@example.net from ant@example.com?")
    assert is_member("leaver@example.net"), "opening the link must not unsubscribe"
    page.get_by_role("button", name="Unsubscribe", exact=True).click()
    expect(page.locator("main")).to_contain_text("no longer receives mail")
    assert not is_member("leaver@example.net")


def test_the_rfc_8058_post_of_a_mailbox_provider_unsubscribes(page, mlist):
    subscribe(mlist, "gmail-user@example.net")
    url = one_click_url(mlist.list_id, "gmail-user@example.net")
    # RFC 8058 section 3.2: a POST with this body, no cookies, no CSRF token.
    response = page.request.post(url, form={"List-Unsubscribe": "One-Click"})
    assert response.status == 200
    assert not is_member("gmail-user@example.net")
    assert page.request.post(url, form={"List-Unsubscribe": "One-Click"}).status == 200, "repeating is harmless"


def test_leave_from_my_subscriptions(page, mlist, smtp_sink):
    user = make_user("leaving@example.org", password=PASSWORD)
    membership = subscribe(mlist, user.email)
    log_in(page, user.email)
    page.goto("/subscriptions/")
    page.locator(f"#membership-{membership.pk}").get_by_role("button", name="Leave Ant").click()
    expect(page.locator(".messages")).to_contain_text("leaving@example.org has left ant@example.com")
    expect(page.locator("main")).to_contain_text("None of your verified addresses")

    assert not is_member("leaving@example.org")
    [goodbye] = mail_to(smtp_sink, "leaving@example.org")
    assert "You have left" in str(goodbye.message["Subject"])
