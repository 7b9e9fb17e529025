"""Moderating by mail end to end: a post delivered over a real LMTP
connection is held, the moderators' notice is caught at a real SMTP server
on loopback, the moderator's reply goes back over LMTP to the notice's
-confirm+TOKEN address, and the released post reaches the members over
SMTP."""

from functools import partial

import pytest

from members.models import Role
from members.services import subscribe
from messages.delivery import send_batch
from messages.models import DeliveryBatch, HeldMessage, HeldStatus, ModerationRecord

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures", "tests.lmtp_fixtures"]

NONMEMBER = "outsider@example.net"
MODERATOR = "moderator@example.org"
READER = "reader@example.org"


@pytest.fixture
def mail(lmtp_mail):
    """A post or reply over LMTP; a body that decides nothing unless told otherwise."""
    return partial(lmtp_mail, body="Hello.\n")


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
