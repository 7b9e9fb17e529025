"""Email commands to list-request@, -join@ and -leave@, processed as the
LMTP receiver's worker does (messages.dispatch), answered at a real SMTP
server on loopback."""

import pytest

from lists.services import create_list
from members.command_mail import DEFAULT_MAX_REPLIES_PER_DAY
from members.models import ConfirmationToken, Membership, Role
from members.services import ban, subscribe, update_membership
from messages.dispatch import process_inbound_message
from messages.models import Destination, InboundStatus
from tests.inbound_mail import compose, receive
from tests.workflow_support import token_of, with_policy

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NEWCOMER = "newcomer@example.net"
RESULTS = "The results of your email commands"


def send(mlist, committed, *, sender=NEWCOMER, subject="", body="\n", destination=Destination.REQUEST, **options):
    """A message from `sender` to ant-`destination`@, stored and processed; the row, reloaded."""
    mail_from = options.pop("mail_from", sender)
    msg = compose(sender=sender, to=f"ant-{destination}@example.com", subject=subject, body=body, **options)
    inbound = receive(mlist, msg, destination=destination, mail_from=mail_from)
    committed(process_inbound_message, inbound.pk)
    inbound.refresh_from_db()
    return inbound


def send_raw(mlist, committed, raw: bytes, *, mail_from=NEWCOMER):
    inbound = receive(mlist, raw, destination=Destination.REQUEST, mail_from=mail_from)
    committed(process_inbound_message, inbound.pk)
    inbound.refresh_from_db()
    return inbound


def replies(sink, address=NEWCOMER):
    return [mail for mail in sink.to(address) if mail.message["Subject"] == RESULTS]


def unwrapped(text: str) -> str:
    """`text` with its lines joined, as long sentences in a reply are wrapped."""
    return " ".join(text.split())


def the_reply(sink, address=NEWCOMER) -> str:
    [reply] = replies(sink, address)
    return unwrapped(reply.message.get_content())


def confirmations(sink, address=NEWCOMER):
    return [mail for mail in sink.to(address) if str(mail.message["Subject"]).startswith("confirm ")]


def is_member(mlist, email=NEWCOMER) -> bool:
    return Membership.objects.filter(mailing_list=mlist, address__email=email, role=Role.MEMBER).exists()


# Subscribing and confirming


def test_subscribe_sends_a_confirmation_and_one_reply(mlist, smtp_sink, committed):
    inbound = send(mlist, committed, subject="subscribe")
    assert inbound.status == InboundStatus.ACCEPTED
    assert len(confirmations(smtp_sink)) == 1
    assert "A confirmation request was sent to newcomer@example.net" in the_reply(smtp_sink)
    assert not is_member(mlist)


def test_the_reply_comes_from_request_marked_automatic_and_threaded(mlist, smtp_sink, committed):
    asked = send(mlist, committed, subject="help").message_id
    [reply] = replies(smtp_sink)
    msg = reply.message
    assert reply.mail_from == "ant-bounces@example.com"
    assert reply.rcpt_tos == [NEWCOMER]
    assert (msg["From"], msg["To"]) == ("ant-request@example.com", NEWCOMER)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert (msg["In-Reply-To"], msg["References"]) == (asked, asked)


def test_confirm_in_the_body_subscribes_and_welcomes(mlist, smtp_sink, committed):
    send(mlist, committed, subject="subscribe")
    token = token_of(confirmations(smtp_sink)[0])
    smtp_sink.received.clear()
    inbound = send(mlist, committed, subject="thanks", body=f"confirm {token}\n")
    assert inbound.status == InboundStatus.ACCEPTED
    assert is_member(mlist)
    assert "newcomer@example.net is now subscribed to ant@example.com" in the_reply(smtp_sink)
    assert any("Welcome" in str(mail.message["Subject"]) for mail in smtp_sink.to(NEWCOMER))


def test_a_reply_to_the_confirmation_sent_to_request_confirms(mlist, smtp_sink, committed):
    send(mlist, committed, subject="subscribe")
    token = token_of(confirmations(smtp_sink)[0])
    body = f"> Someone, perhaps you, asked to subscribe\n> confirm {token}\n"
    send(mlist, committed, subject=f"Re: confirm {token}", body=body)
    assert is_member(mlist)


def test_a_token_in_subject_and_body_is_confirmed_once(mlist, smtp_sink, committed):
    send(mlist, committed, subject="subscribe")
    token = token_of(confirmations(smtp_sink)[0])
    smtp_sink.received.clear()
    send(mlist, committed, subject=f"Re: confirm {token}", body=f"confirm {token}\n")
    reply = the_reply(smtp_sink)
    assert reply.count(f"> confirm {token}") == 1
    assert "not valid" not in reply


def test_a_list_that_moderates_makes_the_confirmed_request_wait(mlist, owner, smtp_sink, committed):
    with_policy(mlist, subscription_policy="confirm_then_moderate")
    send(mlist, committed, subject="subscribe")
    token = token_of(confirmations(smtp_sink)[0])
    smtp_sink.received.clear()
    send(mlist, committed, body=f"confirm {token}\n")
    assert "now waits for the list owners' approval" in the_reply(smtp_sink)
    assert not is_member(mlist)


def test_subscribe_with_an_address_sends_the_confirmation_there(mlist, smtp_sink, committed):
    send(mlist, committed, body="subscribe address=Other@Example.net\n")
    assert len(confirmations(smtp_sink, "other@example.net")) == 1
    assert confirmations(smtp_sink) == []
    assert "A confirmation request was sent to other@example.net" in the_reply(smtp_sink)


def test_a_list_address_cannot_be_subscribed(mlist, smtp_sink, committed):
    send(mlist, committed, body="subscribe address=ant@example.com\n")
    assert "A list address cannot be subscribed" in the_reply(smtp_sink)
    assert smtp_sink.to("ant@example.com") == []


def test_other_arguments_are_ignored_and_not_quoted(mlist, smtp_sink, committed):
    send(mlist, committed, body="subscribe hunter2 digest\n")
    reply = the_reply(smtp_sink)
    assert "Arguments other than address= were ignored." in reply
    assert "A confirmation request was sent to newcomer@example.net" in reply


def test_an_invalid_address_argument_is_refused(mlist, smtp_sink, committed):
    send(mlist, committed, body="subscribe address=not-an-address\n")
    assert "That is not a valid email address." in the_reply(smtp_sink)
    assert confirmations(smtp_sink) == []


def test_subscribe_of_a_member_reads_as_for_anyone_else(mlist, member, smtp_sink, committed):
    send(mlist, committed, sender=member.email, subject="subscribe")
    send(mlist, committed, subject="subscribe")
    [for_member, for_newcomer] = (the_reply(smtp_sink, member.email), the_reply(smtp_sink))
    assert for_member.replace(member.email, NEWCOMER) == for_newcomer


def test_a_banned_address_reads_as_any_other_and_gets_no_confirmation(mlist, smtp_sink, committed):
    ban(mlist, "^.*@example\\.net$")
    send(mlist, committed, subject="subscribe")
    assert confirmations(smtp_sink) == []
    assert "A confirmation request was sent to newcomer@example.net" in the_reply(smtp_sink)
    assert "example\\.net" not in the_reply(smtp_sink)


# -join and -leave


def test_mail_to_join_subscribes_whatever_it_says(mlist, smtp_sink, committed):
    inbound = send(mlist, committed, subject="who", body="help\n", destination=Destination.JOIN)
    assert inbound.status == InboundStatus.ACCEPTED
    assert len(confirmations(smtp_sink)) == 1
    reply = the_reply(smtp_sink)
    assert "> subscribe" in reply
    assert "> who" not in reply and "> help" not in reply


def test_mail_to_leave_asks_the_member_to_confirm_and_then_removes(mlist, member, smtp_sink, committed):
    send(mlist, committed, sender=member.email, destination=Destination.LEAVE)
    [confirmation] = confirmations(smtp_sink, member.email)
    assert is_member(mlist, member.email)
    send(mlist, committed, sender=member.email, body=f"confirm {token_of(confirmation)}\n")
    assert not is_member(mlist, member.email)
    assert any("left" in str(mail.message["Subject"]) for mail in smtp_sink.to(member.email))


# unsubscribe


def test_unsubscribe_asks_for_confirmation_even_under_the_open_policy(mlist, member, smtp_sink, committed):
    send(mlist, committed, sender=member.email, subject="unsubscribe")
    assert len(confirmations(smtp_sink, member.email)) == 1
    assert is_member(mlist, member.email)
    assert "A confirmation request was sent to member@example.org" in the_reply(smtp_sink, member.email)


def test_unsubscribe_of_a_stranger_reads_as_for_a_member(mlist, member, smtp_sink, committed):
    send(mlist, committed, sender=member.email, subject="unsubscribe")
    send(mlist, committed, subject="unsubscribe")
    assert len(confirmations(smtp_sink, member.email)) == len(confirmations(smtp_sink)) == 1
    assert the_reply(smtp_sink, member.email).replace(member.email, NEWCOMER) == the_reply(smtp_sink)


# help and who


def test_help_lists_the_commands_and_the_addresses(mlist, smtp_sink, committed):
    send(mlist, committed, subject="help")
    reply = the_reply(smtp_sink)
    for text in ("subscribe [address=ADDRESS]", "unsubscribe", "confirm TOKEN", "who", "end"):
        assert text in reply
    assert "ant-request@example.com" in reply and "ant-join@example.com" in reply


@pytest.fixture
def roster(mlist, member):
    visible = subscribe(mlist, "Visible Ant <visible@example.org>")
    update_membership(visible, hide_address=False)
    subscribe(mlist, "hidden@example.org")
    return mlist


def test_who_on_a_public_roster_answers_anyone_with_the_visible_members(roster, smtp_sink, committed):
    with_policy(roster, member_roster_visibility="public")
    send(roster, committed, subject="who")
    reply = the_reply(smtp_sink)
    assert "Visible Ant <visible@example.org>" in reply
    assert "hidden@example.org" not in reply and "member@example.org" not in reply


def test_who_on_a_members_roster_is_refused_to_strangers(roster, smtp_sink, committed):
    with_policy(roster, member_roster_visibility="members")
    send(roster, committed, subject="who")
    reply = the_reply(smtp_sink)
    assert "You may not see the members of ant@example.com." in reply
    assert "visible@example.org" not in reply


def test_who_on_a_members_roster_answers_a_member(roster, member, smtp_sink, committed):
    with_policy(roster, member_roster_visibility="members")
    send(roster, committed, sender=member.email, subject="who")
    assert "visible@example.org" in the_reply(smtp_sink, member.email)


def test_who_on_a_moderators_roster_is_refused_to_members(roster, member, smtp_sink, committed):
    send(roster, committed, sender=member.email, subject="who")
    reply = the_reply(smtp_sink, member.email)
    assert "You may not see the members" in reply
    assert "visible@example.org" not in reply


def test_who_shows_owners_every_member_hidden_or_not(roster, owner, smtp_sink, committed):
    send(roster, committed, sender=owner.email, subject="who")
    reply = the_reply(smtp_sink, owner.email)
    for email in ("hidden@example.org", "member@example.org", "visible@example.org"):
        assert email in reply


def test_who_is_answered_to_the_from_address_only(roster, member, smtp_sink, committed):
    with_policy(roster, member_roster_visibility="members")
    send(roster, committed, sender=member.email, subject="who", mail_from="harvester@example.net")
    assert smtp_sink.to("harvester@example.net") == []
    assert "visible@example.org" in the_reply(smtp_sink, member.email)


# Several commands, and where reading stops


def test_several_commands_get_one_reply(mlist, smtp_sink, committed):
    send(mlist, committed, subject="help", body="subscribe\nwho\nend\nunsubscribe\n")
    reply = the_reply(smtp_sink)
    assert "> help" in reply and "> subscribe" in reply and "> who" in reply
    assert "> unsubscribe" not in reply
    assert "The rest of your message was not read." in reply


def test_lines_that_are_no_commands_are_quoted_back(mlist, smtp_sink, committed):
    send(mlist, committed, body="help\nplease add me\n")
    assert "> please add me" in the_reply(smtp_sink)


def test_long_sentences_are_wrapped_to_fit_a_mail(mlist, smtp_sink, committed):
    send(mlist, committed, subject="subscribe")
    text = replies(smtp_sink)[0].message.get_content()
    assert max(len(line) for line in text.splitlines()) <= 76


def test_mail_without_a_command_is_discarded_unanswered(mlist, smtp_sink, committed):
    inbound = send(mlist, committed, subject="Cheap watches", body="Buy now\nBest prices\nClick here\nsubscribe\n")
    assert inbound.status == InboundStatus.DISCARDED
    assert smtp_sink.received == []


# Forged senders and bombing


def test_a_forged_from_sends_the_confirmation_to_the_forged_address_only(mlist, smtp_sink, committed):
    send(mlist, committed, sender="victim@example.net", subject="subscribe", mail_from="forger@example.org")
    assert smtp_sink.to("forger@example.org") == []
    assert len(confirmations(smtp_sink, "victim@example.net")) == 1
    assert not is_member(mlist, "victim@example.net")


def test_subscription_bombing_is_throttled(mlist, smtp_sink, committed):
    for _ in range(5):
        send(mlist, committed, sender="victim@example.net", subject="subscribe", mail_from="forger@example.org")
    assert len(confirmations(smtp_sink, "victim@example.net")) == 3
    last = replies(smtp_sink, "victim@example.net")[-1].message.get_content()
    assert "Too many requests for victim@example.net" in last


def test_replies_to_one_address_stop_at_the_daily_limit(mlist, smtp_sink, committed, settings):
    settings.MEMBERS_MAX_COMMAND_REPLIES_PER_DAY = 3
    rows = [send(mlist, committed, subject="help") for _ in range(5)]
    assert [row.status for row in rows] == [InboundStatus.ACCEPTED] * 5
    sent = replies(smtp_sink)
    assert len(sent) == 3
    assert "This is the last of 3 answers" in sent[-1].message.get_content()
    assert "last of" not in sent[0].message.get_content()


def test_the_default_daily_limit_is_mailmans(mlist, smtp_sink, committed):
    assert DEFAULT_MAX_REPLIES_PER_DAY == 10
    for _ in range(12):
        send(mlist, committed, subject="help")
    assert len(replies(smtp_sink)) == 10


def test_commands_still_run_after_the_reply_limit(mlist, smtp_sink, committed, settings):
    settings.MEMBERS_MAX_COMMAND_REPLIES_PER_DAY = 1
    send(mlist, committed, subject="help")
    send(mlist, committed, subject="subscribe")
    assert len(replies(smtp_sink)) == 1
    assert len(confirmations(smtp_sink)) == 1


# Mail that gets no answer


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Auto_Submitted": "auto-generated"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"Precedence": "list"},
        {"List_Id": "<other.lists.example.org>"},
        {"X_BeenThere": "ant@example.com"},
    ],
)
def test_automatic_and_list_mail_is_discarded_unrun_and_unanswered(mlist, smtp_sink, committed, headers):
    inbound = send(mlist, committed, subject="subscribe", **headers)
    assert inbound.status == InboundStatus.DISCARDED
    assert smtp_sink.received == []
    assert not ConfirmationToken.objects.exists()


def test_auto_submitted_no_is_answered(mlist, smtp_sink, committed):
    send(mlist, committed, subject="help", Auto_Submitted="no")
    assert len(replies(smtp_sink)) == 1


@pytest.mark.parametrize(
    ("sender", "mail_from"),
    [
        ("newcomer@example.net", ""),
        ("MAILER-DAEMON@mx.example.net", "bounces@mx.example.net"),
    ],
)
def test_bounces_are_discarded_unanswered(mlist, smtp_sink, committed, sender, mail_from):
    inbound = send(mlist, committed, sender=sender, subject="subscribe", mail_from=mail_from)
    assert inbound.status == InboundStatus.DISCARDED
    assert smtp_sink.received == []


def test_a_delivery_report_is_discarded_unanswered(mlist, smtp_sink, committed):
    raw = (
        b"From: newcomer@example.net\r\nSubject: help\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhelp\r\n--b--\r\n"
    )
    assert send_raw(mlist, committed, raw).status == InboundStatus.DISCARDED
    assert smtp_sink.received == []


def test_our_own_reply_sent_back_is_not_answered(mlist, smtp_sink, committed):
    send(mlist, committed, subject="help")
    [reply] = replies(smtp_sink)
    smtp_sink.received.clear()
    assert send_raw(mlist, committed, reply.data).status == InboundStatus.DISCARDED
    assert smtp_sink.received == []


def test_mail_from_a_list_address_is_not_answered(mlist, smtp_sink, committed):
    inbound = send(mlist, committed, sender="ant-owner@example.com", subject="subscribe")
    assert inbound.status == InboundStatus.DISCARDED
    assert smtp_sink.received == []


# Tokens


def test_a_replayed_token_is_refused(mlist, smtp_sink, committed):
    send(mlist, committed, subject="subscribe")
    token = token_of(confirmations(smtp_sink)[0])
    send(mlist, committed, body=f"confirm {token}\n")
    smtp_sink.received.clear()
    send(mlist, committed, body=f"confirm {token}\n")
    assert "This confirmation is not valid" in the_reply(smtp_sink)


def test_a_token_of_another_list_is_refused(mlist, smtp_sink, committed):
    other = create_list("bee@example.com")
    send(mlist, committed, subject="subscribe")
    token = token_of(confirmations(smtp_sink)[0])
    smtp_sink.received.clear()
    send(other, committed, body=f"confirm {token}\n")
    assert "This confirmation is not valid" in the_reply(smtp_sink)
    assert not is_member(mlist) and not is_member(other)


def test_confirm_without_a_token_says_how(mlist, smtp_sink, committed):
    send(mlist, committed, subject="confirm")
    assert "Usage: confirm TOKEN" in the_reply(smtp_sink)


# Bad input


def test_binary_junk_is_discarded_without_a_crash(mlist, smtp_sink, committed):
    raw = b"From: newcomer@example.net\r\nContent-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) * 100
    assert send_raw(mlist, committed, raw).status == InboundStatus.DISCARDED


def test_junk_bytes_around_a_command_are_not_echoed_raw(mlist, smtp_sink, committed):
    raw = b"From: newcomer@example.net\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    raw += b"help\r\n\x00\x1b\xff\xfe junk\r\n"
    assert send_raw(mlist, committed, raw).status == InboundStatus.ACCEPTED
    reply = the_reply(smtp_sink)
    assert "\x00" not in reply and "\x1b" not in reply and "> junk" in reply


@pytest.mark.parametrize(
    "charset, body",
    [
        ("iso-8859-1", "Grüße\r\nhelp\r\n".encode("iso-8859-1")),
        ("shift_jis", "こんにちは\r\nhelp\r\n".encode("shift_jis")),
        ("utf-16", "help\r\n".encode("utf-16")),
        ("x-unknown-charset", "Grüße\r\nhelp\r\n".encode()),
        ("zlib", b"help\r\n"),
    ],
)
def test_commands_are_read_in_any_charset(mlist, smtp_sink, committed, charset, body):
    raw = f"From: newcomer@example.net\r\nContent-Type: text/plain; charset={charset}\r\n\r\n".encode() + body
    assert send_raw(mlist, committed, raw).status == InboundStatus.ACCEPTED
    assert "> help" in the_reply(smtp_sink)


@pytest.mark.parametrize("subject", [b"=?x-unknown?B?aGVscA==?=", b"=?utf-8?B?!!!?=", b"Gr\xfc\xdfe \xff\xfe"])
def test_a_subject_in_an_unknown_charset_or_raw_bytes_does_not_crash(mlist, smtp_sink, committed, subject):
    raw = b"From: newcomer@example.net\r\nSubject: " + subject + b"\r\n\r\nwho\r\n"
    assert send_raw(mlist, committed, raw).status == InboundStatus.ACCEPTED
    assert "> who" in the_reply(smtp_sink)


# Sending fails


def test_a_reply_that_cannot_be_sent_now_keeps_nothing_and_is_tried_again(mlist, smtp_down, committed):
    inbound = send(mlist, committed, subject="subscribe")
    assert inbound.status == InboundStatus.QUEUED
    assert "SMTP" in inbound.error
    assert not ConfirmationToken.objects.exists()


def test_a_reply_refused_for_good_leaves_the_commands_done(mlist, smtp_sink, committed):
    send(mlist, committed, subject="subscribe")
    token = token_of(confirmations(smtp_sink)[0])
    smtp_sink.rcpt_reply = "550 5.1.1 No such user"
    inbound = send(mlist, committed, body=f"confirm {token}\n")
    assert inbound.status == InboundStatus.ACCEPTED
    assert is_member(mlist)
