"""The hold queue in a real browser: Debian's Chromium driven by Playwright
against the live server. A post held over a real LMTP connection is
approved on the queue page by its owner and then reaches the members at a
real SMTP server on loopback. Without Chromium these tests fail (CI
installs it); they never skip.
"""

from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from playwright.sync_api import expect

from members.services import subscribe
from messages.delivery import send_batch
from messages.dispatch import process_inbound_message
from messages.models import DeliveryBatch, HeldMessage, HeldStatus
from messages.pipeline.mime import message_bytes
from tests.browser_support import PASSWORD, log_in
from tests.conftest import make_user
from tests.lmtp_client import as_mta_sends, connected, deliver, queued_ids, running_lmtp_server, use_stub_broker

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures", "tests.browser_fixtures"]
pytestmark = pytest.mark.browser

NONMEMBER = "outsider@example.net"
READER = "reader@example.org"


@pytest.fixture
def held_over_lmtp(mlist, monkeypatch, smtp_sink) -> HeldMessage:
    """A nonmember's post delivered over LMTP and processed as the worker would."""
    queue = use_stub_broker(monkeypatch)
    msg = EmailMessage()
    msg["From"] = f"Out Sider <{NONMEMBER}>"
    msg["To"] = "ant@example.com"
    msg["Subject"] = "Queen spotted <b>near the nest</b>"
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content("She was last seen by the oak.\n")
    with running_lmtp_server() as server, connected(server) as client:
        delivery = deliver(client, ["ant@example.com"], as_mta_sends(message_bytes(msg)), mail_from=NONMEMBER)
    assert delivery.data_codes == [250]
    for inbound_id in queued_ids(queue):
        process_inbound_message(inbound_id)
    return HeldMessage.objects.get(status=HeldStatus.PENDING)


def test_a_held_post_approved_on_the_queue_page_reaches_the_members(page, mlist, held_over_lmtp, smtp_sink):
    owner = make_user("owner@example.org", password=PASSWORD)
    subscribe(mlist, owner.email, role="owner")
    subscribe(mlist, READER)
    log_in(page, owner.email)

    page.goto("/lists/ant.example.com/")
    expect(page.locator(".pending")).to_contain_text("1 held post")
    page.locator(".pending").get_by_role("link", name="1 held post").click()
    row = page.locator(f"#held-{held_over_lmtp.pk}")
    expect(row).to_contain_text(NONMEMBER)
    expect(row).to_contain_text("Queen spotted <b>near the nest</b>")
    row.get_by_role("link").click()
    expect(page.locator(".message-text")).to_contain_text("She was last seen by the oak.")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("is approved and goes to the list")
    expect(page.locator("main")).to_contain_text("No posts are waiting.")

    held_over_lmtp.refresh_from_db()
    assert held_over_lmtp.status == HeldStatus.APPROVED
    for batch in DeliveryBatch.objects.all():
        send_batch(batch.pk)
    [post] = smtp_sink.to(READER)
    assert str(post.message["Subject"]) == "[ant] Queen spotted <b>near the nest</b>"
    assert "She was last seen by the oak." in post.message.get_content()


def test_bulk_discard_from_the_queue_page(page, mlist, held_over_lmtp):
    owner = make_user("owner@example.org", password=PASSWORD)
    subscribe(mlist, owner.email, role="owner")
    log_in(page, owner.email)
    page.goto("/lists/ant.example.com/held/")
    page.locator(f"#select-{held_over_lmtp.pk}").check()
    page.get_by_role("button", name="Discard", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("is discarded")
    held_over_lmtp.refresh_from_db()
    assert held_over_lmtp.status == HeldStatus.DISCARDED
