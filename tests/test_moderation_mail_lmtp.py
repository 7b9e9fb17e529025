"""Moderating by mail end to end: a post delivered over a real LMTP
connection is held, the moderators' notice is caught at a real SMTP server
on loopback, the moderator's reply goes back over LMTP to the notice's
-confirm+TOKEN address, and the released post reaches the members over
SMTP."""

from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from members.models import Role
from members.services import subscribe
from messages.delivery import send_batch
from messages.dispatch import process_inbound_message
from messages.models import DeliveryBatch, HeldMessage, HeldStatus, InboundMessage, ModerationRecord
from messages.pipeline.mime import message_bytes
from tests.lmtp_client import as_mta_sends, connected, deliver, queued_ids, running_lmtp_server, use_stub_broker

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NONMEMBER = "outsider@example.net"
MODERATOR = "moderator@example.org"
READER = "reader@example.org"


@pytest.fixture
def inbound_queue(monkeypatch):
    return use_stub_broker(monkeypatch)


@pytest.fixture
def lmtp(transactional_db, inbound_queue):
    with running_lmtp_server() as server, connected(server) as client:
        yield client


@pytest.fixture
def mail(lmtp, inbound_queue, smtp_sink):
    """Send a message over LMTP and process what was queued, as the worker would; the stored row."""

    def send(rcpt: str, *, sender: str, subject: str, body: str = "Hello.\n", **headers) -> InboundMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = rcpt
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="example.net")
        for name, value in headers.items():
            msg[name.replace("_", "-")] = value
        msg.set_content(body)
        delivery = deliver(lmtp, [rcpt], as_mta_sends(message_bytes(msg)), mail_from=sender)
        assert delivery.data_codes == [250], delivery
        for inbound_id in queued_ids(inbound_queue):
            process_inbound_message(inbound_id)
        inbound_queue.flush_all()
        return InboundMessage.objects.get(rcpt_to=rcpt, message_id=msg["Message-ID"])

    return send


@pytest.fixture
def moderated(mlist):
    subscribe(mlist, MODERATOR, role=Role.MODERATOR)
    subscribe(mlist, READER)
    return mlist


def the_notice(smtp_sink):
    [notice] = smtp_sink.to(MODERATOR)
    return notice.message


def deliver_batches() -> None:
    for batch in DeliveryBatch.objects.all():
        send_batch(batch.pk)


def test_a_reply_to_the_notice_releases_the_post_to_the_members(moderated, mail, smtp_sink):
    mail("ant@example.com", sender=NONMEMBER, subject="Ants of the world")
    held = HeldMessage.objects.get()
    assert held.status == HeldStatus.PENDING
    assert any("awaits moderator approval" in str(item.message["Subject"]) for item in smtp_sink.to(NONMEMBER))

    notice = the_notice(smtp_sink)
    reply_to = str(notice["Reply-To"])
    assert reply_to.startswith("ant-confirm+")
    mail(reply_to, sender=MODERATOR, subject=f"Re: {notice['Subject']}", body="\n> A post awaits\n")
    held.refresh_from_db()
    assert held.status == HeldStatus.APPROVED

    deliver_batches()
    [post] = [item for item in smtp_sink.to(READER) if "Ants of the world" in str(item.message["Subject"])]
    assert str(post.message["Subject"]) == "[ant] Ants of the world"
    record = ModerationRecord.objects.get()
    assert (record.action, record.via, record.actor_email) == ("approved", "email", MODERATOR)


def test_a_reply_to_request_that_rejects_tells_the_sender(moderated, mail, smtp_sink):
    mail("ant@example.com", sender=NONMEMBER, subject="Buy now")
    notice = the_notice(smtp_sink)
    mail("ant-request@example.com", sender=MODERATOR, subject=f"Re: {notice['Subject']}", body="reject: Spam.\n")
    assert HeldMessage.objects.get().status == HeldStatus.REJECTED
    [rejection] = [item for item in smtp_sink.to(NONMEMBER) if "was rejected" in str(item.message["Subject"])]
    assert "Spam." in rejection.message.get_body(("plain",)).get_content()
    assert not smtp_sink.to(READER)


def test_the_moderator_password_in_the_reply_approves(moderated, mail, smtp_sink):
    from lists.services import configure_list

    configure_list(moderated, moderator_password="queen-ant")
    mail("ant@example.com", sender=NONMEMBER, subject="Hello")
    reply_to = str(the_notice(smtp_sink)["Reply-To"])
    mail(reply_to, sender=MODERATOR, subject="Re: hello", Approved="queen-ant")
    assert HeldMessage.objects.get().status == HeldStatus.APPROVED
