"""Email commands end to end: the command mail delivered over a real LMTP
connection, processed as the worker does, the confirmation mail caught at a
real SMTP server on loopback, its token taken and sent back, and the
welcome (or goodbye) mail caught in turn."""

from functools import partial

import pytest

from members.models import Membership, Role
from members.services import subscribe, update_membership
from messages.models import InboundStatus
from tests.workflow_support import token_of, with_policy

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures", "tests.lmtp_fixtures"]

NEWCOMER = "newcomer@example.net"
RESULTS = "The results of your email commands"


@pytest.fixture
def mail(lmtp_mail):
    """Command mail over LMTP, from the newcomer unless told otherwise."""
    return partial(lmtp_mail, sender=NEWCOMER)


def mails_to(sink, address: str, subject_start: str):
    return [item for item in sink.to(address) if str(item.message["Subject"]).startswith(subject_start)]


def the_confirmation(sink, address: str = NEWCOMER):
    [confirmation] = mails_to(sink, address, "confirm ")
    return confirmation


def unwrapped(text: str) -> str:
    """`text` with its lines joined, as long sentences in a reply are wrapped."""
    return " ".join(text.split())


def the_reply(sink, address: str = NEWCOMER) -> str:
    [reply] = mails_to(sink, address, RESULTS)
    return unwrapped(reply.message.get_content())


def is_member(mlist, email: str = NEWCOMER) -> bool:
    return Membership.objects.filter(mailing_list=mlist, address__email=email, role=Role.MEMBER).exists()


def test_subscribe_to_request_then_reply_to_the_confirmation(mlist, mail, smtp_sink):
    assert mail("ant-request@example.com", subject="subscribe").status == InboundStatus.ACCEPTED
    confirmation = the_confirmation(smtp_sink)
    assert "A confirmation request was sent to newcomer@example.net" in the_reply(smtp_sink)
    token = token_of(confirmation)
    # The mail program answers to Reply-To, keeping the Subject.
    reply_to = str(confirmation.message["Reply-To"])
    assert mail(reply_to, subject=f"Re: confirm {token}").status == InboundStatus.ACCEPTED
    assert is_member(mlist)
    assert len(mails_to(smtp_sink, NEWCOMER, "Welcome")) == 1


def test_join_then_the_token_in_a_request_body(mlist, mail, smtp_sink):
    assert mail("ant-join@example.com", subject="let me in").status == InboundStatus.ACCEPTED
    token = token_of(the_confirmation(smtp_sink))
    assert not is_member(mlist)
    mail("ant-request@example.com", subject="done", body=f"confirm {token}\n")
    assert is_member(mlist)
    assert len(mails_to(smtp_sink, NEWCOMER, "Welcome")) == 1
    assert any("is now subscribed" in item.message.get_content() for item in mails_to(smtp_sink, NEWCOMER, RESULTS))


def test_subscribe_address_then_a_reply_with_the_subject_to_plain_confirm(mlist, mail, smtp_sink):
    mail("ant-subscribe@example.com")
    token = token_of(the_confirmation(smtp_sink))
    mail("ant-confirm@example.com", subject=f"Re: confirm {token}")
    assert is_member(mlist)


def test_unsubscribe_then_confirm_then_goodbye(mlist, member, mail, smtp_sink):
    mail("ant-request@example.com", sender=member.email, subject="unsubscribe")
    token = token_of(the_confirmation(smtp_sink, member.email))
    assert is_member(mlist, member.email)
    mail("ant-request@example.com", sender=member.email, subject=f"Re: confirm {token}")
    assert not is_member(mlist, member.email)
    assert len(mails_to(smtp_sink, member.email, "You have left")) == 1


def test_leave_address_asks_to_confirm(mlist, member, mail, smtp_sink):
    mail("ant-leave@example.com", sender=member.email)
    token = token_of(the_confirmation(smtp_sink, member.email))
    mail(f"ant-confirm+{token}@example.com", sender=member.email)
    assert not is_member(mlist, member.email)


def test_help(mlist, mail, smtp_sink):
    mail("ant-request@example.com", subject="help")
    assert "confirm TOKEN" in the_reply(smtp_sink)


def test_who_on_a_public_roster(mlist, mail, smtp_sink):
    with_policy(mlist, member_roster_visibility="public")
    update_membership(subscribe(mlist, "shown@example.org"), hide_address=False)
    mail("ant-request@example.com", subject="who")
    assert "shown@example.org" in the_reply(smtp_sink)


def test_who_on_a_private_roster(mlist, mail, smtp_sink):
    update_membership(subscribe(mlist, "shown@example.org"), hide_address=False)
    mail("ant-request@example.com", subject="who")
    reply = the_reply(smtp_sink)
    assert "You may not see the members of ant@example.com." in reply
    assert "shown@example.org" not in reply


def test_a_forged_from_subscribes_nobody(mlist, mail, smtp_sink):
    mail("ant-request@example.com", sender="victim@example.org", subject="subscribe", mail_from="forger@example.net")
    assert smtp_sink.to("forger@example.net") == []
    assert len(mails_to(smtp_sink, "victim@example.org", "confirm ")) == 1
    assert not is_member(mlist, "victim@example.org")
    assert not Membership.objects.filter(mailing_list=mlist, role=Role.MEMBER).exists()


def test_a_10000_line_body_is_cheap_and_answered(mlist, mail, smtp_sink):
    body = "help\n" + "".join(f"line {number} of junk\n" for number in range(10_000))
    inbound = mail("ant-request@example.com", body=body)
    assert inbound.status == InboundStatus.ACCEPTED
    reply = the_reply(smtp_sink)
    assert reply.count("> line ") == 3
    assert "The rest of your message was not read." in reply


def test_an_auto_reply_gets_no_answer(mlist, mail, smtp_sink):
    inbound = mail("ant-request@example.com", subject="Out of office: subscribe", Auto_Submitted="auto-replied")
    assert inbound.status == InboundStatus.DISCARDED
    assert smtp_sink.received == []


def test_a_bounce_gets_no_answer(mlist, mail, smtp_sink):
    inbound = mail("ant-request@example.com", sender="mailer-daemon@mx.example.net", subject="help", mail_from="<>")
    assert inbound.status == InboundStatus.DISCARDED
    assert smtp_sink.received == []
