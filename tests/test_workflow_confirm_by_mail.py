"""Confirming by mail to list-confirm+TOKEN@ or by replying to the
confirmation mail, through messages.dispatch as the LMTP receiver's worker does."""

from lists.services import create_list
from members.models import Membership
from members.workflows import request_subscription
from messages.dispatch import process_inbound_message
from messages.models import Destination, InboundStatus
from tests.inbound_mail import compose, receive
from tests.workflow_support import token_of

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NEWCOMER = "newcomer@example.net"


def requested_token(mlist, smtp_sink, committed) -> str:
    committed(request_subscription, mlist, NEWCOMER)
    return token_of(smtp_sink.to(NEWCOMER)[0])


def is_member(mlist) -> bool:
    return Membership.objects.filter(mailing_list=mlist, address__email=NEWCOMER).exists()


def send_to_confirm(mlist, msg, argument, committed):
    """Store `msg` as received for ant-confirm[+argument] and process it."""
    inbound = receive(mlist, msg, destination=Destination.CONFIRM, mail_from=NEWCOMER)
    inbound.subaddress_argument = argument
    inbound.rcpt_to = f"ant-confirm+{argument}@example.com" if argument else "ant-confirm@example.com"
    inbound.save()
    committed(process_inbound_message, inbound.pk)
    inbound.refresh_from_db()
    return inbound


def test_mail_to_the_confirm_address_confirms(mlist, smtp_sink, committed):
    token = requested_token(mlist, smtp_sink, committed)
    msg = compose(sender=NEWCOMER, to=f"ant-confirm+{token}@example.com", subject="whatever")
    inbound = send_to_confirm(mlist, msg, token, committed)
    assert inbound.status == InboundStatus.ACCEPTED
    assert is_member(mlist)
    assert any("Welcome" in str(mail.message["Subject"]) for mail in smtp_sink.to(NEWCOMER))


def test_a_reply_keeping_the_subject_confirms(mlist, smtp_sink, committed):
    token = requested_token(mlist, smtp_sink, committed)
    msg = compose(sender=NEWCOMER, to="ant-confirm@example.com", subject=f"Re: confirm {token}")
    assert send_to_confirm(mlist, msg, "", committed).status == InboundStatus.ACCEPTED
    assert is_member(mlist)


def test_a_replayed_confirmation_mail_is_discarded(mlist, smtp_sink, committed):
    token = requested_token(mlist, smtp_sink, committed)
    send_to_confirm(mlist, compose(sender=NEWCOMER, subject="yes"), token, committed)
    again = send_to_confirm(mlist, compose(sender=NEWCOMER, subject="yes"), token, committed)
    assert again.status == InboundStatus.DISCARDED


def test_an_auto_reply_does_not_confirm(mlist, smtp_sink, committed):
    token = requested_token(mlist, smtp_sink, committed)
    msg = compose(sender=NEWCOMER, subject=f"Out of office: confirm {token}", Auto_Submitted="auto-replied")
    assert send_to_confirm(mlist, msg, token, committed).status == InboundStatus.DISCARDED
    assert not is_member(mlist)


def test_mail_without_a_token_is_discarded_without_an_answer(mlist, smtp_sink, committed):
    requested_token(mlist, smtp_sink, committed)
    sent = len(smtp_sink.received)
    inbound = send_to_confirm(mlist, compose(sender=NEWCOMER, subject="please add me"), "", committed)
    assert inbound.status == InboundStatus.DISCARDED
    assert len(smtp_sink.received) == sent
    assert not is_member(mlist)


def test_a_token_of_another_list_is_discarded(mlist, smtp_sink, committed):
    other = create_list("bee@example.com")
    token = requested_token(mlist, smtp_sink, committed)
    assert send_to_confirm(other, compose(sender=NEWCOMER), token, committed).status == InboundStatus.DISCARDED
    assert not is_member(mlist)
