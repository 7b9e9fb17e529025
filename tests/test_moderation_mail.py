"""The hold queue by mail: the notice to moderators (with the post and a
token), the notice to the sender, and deciding by replying to the notice."""

import re

import pytest

from lists.models import ListTemplate, TemplateName
from lists.services import configure_list
from members.models import ConfirmationToken, Role, TokenAction
from members.services import subscribe
from messages.dispatch import process_inbound_message
from messages.models import Destination, HeldMessage, HeldStatus, InboundStatus, ModerationRecord, Post
from messages.moderation_mail import APPROVE, DISCARD, REJECT, Reply, read_reply
from tests.inbound_mail import CORPUS, compose, corpus_message, deliver, receive

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NONMEMBER = "outsider@example.net"
MODERATOR = "moderator@example.org"
NOTICE_SUBJECT = re.compile(r"requires approval \(confirm ([a-z2-7]{32})\)$")


@pytest.fixture
def moderator(mlist):
    subscribe(mlist, MODERATOR, role=Role.MODERATOR)
    return MODERATOR


@pytest.fixture
def held_with_notice(mlist, moderator, smtp_sink, committed):
    """A held post and the notice its moderators got."""
    inbound = committed(deliver, mlist, compose(sender=NONMEMBER, subject="Let me in"), mail_from=NONMEMBER)
    [notice] = smtp_sink.to(MODERATOR)
    return inbound.held, notice.message


def token_of(notice) -> str:
    found = NOTICE_SUBJECT.search(str(notice["Subject"]))
    assert found, notice["Subject"]
    return found.group(1)


def reply(mlist, token: str, body: str = "", *, to: str = "confirm", subject: str = "", sender=MODERATOR, **headers):
    """Send a reply to the notice: to -confirm+TOKEN, or (`to="request"`) to -request with the token in Subject."""
    msg = compose(sender=sender, to=f"ant-{to}@example.com", subject=subject or "Re: a post", body=body, **headers)
    inbound = receive(mlist, msg, destination=Destination.CONFIRM if to == "confirm" else Destination.REQUEST)
    if to == "confirm" and not subject:
        inbound.subaddress_argument = token
        inbound.save(update_fields=["subaddress_argument"])
    process_inbound_message(inbound.pk)
    inbound.refresh_from_db()
    return inbound


def status_of(held: HeldMessage) -> str:
    held.refresh_from_db()
    return held.status


def test_the_notice_carries_the_post_and_a_token_to_reply_with(mlist, held_with_notice):
    held, notice = held_with_notice
    token = token_of(notice)
    assert str(notice["Reply-To"]) == f"ant-confirm+{token}@example.com"
    assert str(notice["From"]) == "ant-request@example.com"
    text = notice.get_body(("plain",)).get_content()
    assert NONMEMBER in text and "Let me in" in text and "The message is not from a list member" in text
    assert f"/lists/ant.example.com/held/{held.pk}/" in text
    [attached] = [part for part in notice.iter_attachments() if part.get_content_type() == "message/rfc822"]
    assert str(attached.get_content()["Subject"]) == "Let me in"
    row = ConfirmationToken.objects.get(action=TokenAction.HELD_POST)
    assert row.data == {"held_message": held.pk}


def test_the_notice_uses_the_owners_wording(mlist, moderator, smtp_sink, committed):
    ListTemplate.objects.create(
        mailing_list=mlist, name=TemplateName.HELD_NOTICE, text="Held: $subject from $sender_email; $confirm_email"
    )
    committed(deliver, mlist, compose(sender=NONMEMBER, subject="Ours"), mail_from=NONMEMBER)
    [notice] = smtp_sink.to(MODERATOR)
    token = token_of(notice.message)
    text = notice.message.get_body(("plain",)).get_content()
    assert text.strip() == f"Held: Ours from {NONMEMBER}; ant-confirm+{token}@example.com"


def test_the_sender_is_told_the_post_waits(mlist, owner, smtp_sink, committed):
    committed(deliver, mlist, compose(sender=NONMEMBER, subject="Let me in"), mail_from=NONMEMBER)
    [notice] = smtp_sink.to(NONMEMBER)
    assert "awaits moderator approval" in str(notice.message["Subject"])
    text = notice.message.get_content()
    assert "Let me in" in text and "is being held until the list moderator can review it" in text


def test_automatic_mail_gets_no_hold_notice(mlist, owner, smtp_sink, committed):
    msg = compose(sender=NONMEMBER, Auto_Submitted="auto-replied")
    committed(deliver, mlist, msg, mail_from=NONMEMBER)
    assert not smtp_sink.to(NONMEMBER)


def test_a_list_may_keep_quiet_to_senders_of_held_posts(mlist, owner, smtp_sink, committed):
    configure_list(mlist, respond_to_post_requests=False)
    committed(deliver, mlist, compose(sender=NONMEMBER), mail_from=NONMEMBER)
    assert not smtp_sink.to(NONMEMBER)
    assert smtp_sink.to(owner.email), "the moderators are still told"


def test_the_sender_of_a_post_held_as_spam_is_not_told(mlist, owner, smtp_sink, committed, settings):
    # Spam's senders are mostly forged: a notice would be backscatter.
    settings.TRUST_MTA_SPAM_HEADERS = True
    msg = compose(sender=NONMEMBER, X_Spam_Status="Yes, score=25.0 required=5.0 tests=GTUBE")
    inbound = committed(deliver, mlist, msg, mail_from=NONMEMBER)
    assert inbound.held.status == HeldStatus.PENDING
    assert not smtp_sink.to(NONMEMBER)


def test_hold_notices_to_one_sender_are_limited_per_day(mlist, owner, smtp_sink, committed, settings):
    settings.MODERATION_MAX_HOLD_NOTICES_PER_DAY = 2
    for number in range(4):
        committed(deliver, mlist, compose(sender=NONMEMBER, subject=f"Post {number}"), mail_from=NONMEMBER)
    assert len(smtp_sink.to(NONMEMBER)) == 2
    assert HeldMessage.objects.count() == 4


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", Reply(APPROVE)),
        ("\n\nOn Monday, the list wrote:\n> A post awaits\n", Reply(APPROVE)),
        ("approve\n", Reply(APPROVE)),
        ("Approve please\n> quoted\n", Reply(APPROVE)),
        ("discard\n", Reply(DISCARD)),
        ("DISCARD it, spam\n", Reply(DISCARD)),
        ("reject\n", Reply(REJECT)),
        (
            "reject: Off topic here.\nTry the ant-chat list.\n\nCheers\n",
            Reply(REJECT, "Off topic here.\nTry the ant-chat list."),
        ),
        ("Approved: secret\n", Reply(APPROVE, password="secret")),
        ("Hmm, not sure about this one.\n", Reply("")),
        ("-- \nA moderator\n", Reply(APPROVE)),
    ],
)
def test_reading_a_reply(body, expected):
    assert read_reply(compose(body=body)) == expected


def test_a_reject_reason_by_mail_is_cut_short():
    assert len(read_reply(compose(body="reject " + "x" * 5000 + "\n")).reason) == 1000


def test_an_approved_header_is_read_too():
    assert read_reply(compose(body="", Approved="secret")) == Reply(APPROVE, password="secret")
    assert read_reply(compose(body="Fine by me.\n", Approved="secret")) == Reply(APPROVE, password="secret")
    assert read_reply(compose(body="discard\n", Approved="secret")) == Reply(DISCARD, password="secret")


def test_a_plain_reply_approves_and_is_logged(mlist, held_with_notice):
    held, notice = held_with_notice
    inbound = reply(mlist, token_of(notice))
    assert inbound.status == InboundStatus.ACCEPTED
    assert status_of(held) == HeldStatus.APPROVED
    assert Post.objects.get().subject == "[ant] Let me in"
    [entry] = ModerationRecord.objects.all()
    assert (entry.action, entry.via, entry.actor_email, entry.actor) == ("approved", "email", MODERATOR, None)


def test_a_reply_that_rejects_tells_the_sender_the_reason(mlist, held_with_notice, smtp_sink):
    held, notice = held_with_notice
    reply(mlist, token_of(notice), "reject: Please subscribe first.\n\n> quoted notice\n")
    assert status_of(held) == HeldStatus.REJECTED
    assert held.decision_reason == "Please subscribe first."
    [rejection] = [item for item in smtp_sink.to(NONMEMBER) if "rejected" in str(item.message["Subject"])]
    assert "Please subscribe first." in rejection.message.get_body(("plain",)).get_content()


def test_a_reply_that_discards(mlist, held_with_notice):
    held, notice = held_with_notice
    reply(mlist, token_of(notice), "discard\n")
    assert status_of(held) == HeldStatus.DISCARDED
    assert not Post.objects.exists()


def test_a_reply_to_request_keeping_the_subject_approves(mlist, held_with_notice):
    held, notice = held_with_notice
    inbound = reply(mlist, "", to="request", subject=f"Re: {notice['Subject']}")
    assert inbound.status == InboundStatus.ACCEPTED
    assert status_of(held) == HeldStatus.APPROVED


def test_a_reply_to_plain_confirm_keeping_the_subject_approves(mlist, held_with_notice):
    held, notice = held_with_notice
    reply(mlist, "", to="confirm", subject=f"Re: {notice['Subject']}")
    assert status_of(held) == HeldStatus.APPROVED


def test_the_moderator_password_approves(mlist, held_with_notice):
    configure_list(mlist, moderator_password="ant-secret")
    held, notice = held_with_notice
    reply(mlist, token_of(notice), "Approved: ant-secret\n")
    assert status_of(held) == HeldStatus.APPROVED
    assert b"ant-secret" not in bytes(Post.objects.get().raw)


def test_a_wrong_password_decides_nothing_and_keeps_the_token(mlist, held_with_notice):
    configure_list(mlist, moderator_password="ant-secret")
    held, notice = held_with_notice
    inbound = reply(mlist, token_of(notice), "Approved: guess\n")
    assert inbound.status == InboundStatus.DISCARDED
    assert status_of(held) == HeldStatus.PENDING
    reply(mlist, token_of(notice), "discard\n")
    assert status_of(held) == HeldStatus.DISCARDED


def test_an_unclear_reply_decides_nothing(mlist, held_with_notice):
    held, notice = held_with_notice
    inbound = reply(mlist, token_of(notice), "Who is this person?\n")
    assert inbound.status == InboundStatus.DISCARDED
    assert status_of(held) == HeldStatus.PENDING
    assert not ModerationRecord.objects.exists()


def test_an_auto_reply_decides_nothing(mlist, held_with_notice):
    held, notice = held_with_notice
    reply(mlist, token_of(notice), "I am on holiday.\n", Auto_Submitted="auto-replied")
    assert status_of(held) == HeldStatus.PENDING


def test_the_token_decides_once(mlist, held_with_notice):
    held, notice = held_with_notice
    reply(mlist, token_of(notice), "discard\n")
    second = reply(mlist, token_of(notice), "approve\n")
    assert second.status == InboundStatus.DISCARDED
    assert status_of(held) == HeldStatus.DISCARDED
    assert not Post.objects.exists()


def test_a_post_decided_on_the_web_first_is_left_alone(mlist, owner, held_with_notice):
    from messages import moderation

    held, notice = held_with_notice
    moderation.discard(held, owner)
    inbound = reply(mlist, token_of(notice))
    assert inbound.status == InboundStatus.DISCARDED
    assert "already been discarded" in inbound.error
    assert status_of(held) == HeldStatus.DISCARDED


def test_a_token_of_another_list_decides_nothing(mlist, domain, held_with_notice):
    from lists.services import create_list

    held, notice = held_with_notice
    wasp = create_list("wasp@example.com")
    inbound = reply(wasp, token_of(notice))
    assert inbound.status == InboundStatus.DISCARDED
    assert status_of(held) == HeldStatus.PENDING


def test_a_subscription_token_still_confirms_a_subscription(mlist, smtp_sink, committed):
    from members.models import Membership
    from members.workflows import request_subscription

    result = committed(request_subscription, mlist, "newcomer@example.net")
    reply(mlist, result.token, sender="newcomer@example.net")
    assert Membership.objects.filter(address__email="newcomer@example.net", role=Role.MEMBER).exists()


@pytest.mark.parametrize("slug", ["held-notice", "hold-notice", "post-rejected", "pending-summary"])
def test_owners_see_the_moderation_wordings_with_their_placeholders(client, owner, slug):
    client.force_login(owner)
    response = client.get(f"/lists/ant.example.com/templates/{slug}/")
    assert response.status_code == 200
    assert "$subject" in response.content.decode() or "$count" in response.content.decode()


def test_owners_reword_the_senders_hold_notice(client, owner, mlist, smtp_sink, committed):
    client.force_login(owner)
    text = "Wait for it, $sender_email: $subject"
    assert client.post("/lists/ant.example.com/templates/hold-notice/", {"text": text}).status_code == 302
    committed(deliver, mlist, compose(sender=NONMEMBER, subject="Let me in"), mail_from=NONMEMBER)
    [notice] = smtp_sink.to(NONMEMBER)
    assert notice.message.get_content().strip() == f"Wait for it, {NONMEMBER}: Let me in"


def test_owners_reword_the_rejection(mlist, owner, held_with_notice, smtp_sink):
    from messages import moderation

    ListTemplate.objects.create(mailing_list=mlist, name=TemplateName.POST_REJECTED, text="No: $reasons")
    held, _notice = held_with_notice
    moderation.reject(held, owner, "Off topic.")
    [rejection] = [item for item in smtp_sink.to(NONMEMBER) if "rejected" in str(item.message["Subject"])]
    assert rejection.message.get_body(("plain",)).get_content().strip() == "No:     Off topic."


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.iterdir()))
def test_every_corpus_message_held_gets_its_notice_out(mlist, moderator, smtp_sink, committed, name):
    inbound = committed(deliver, mlist, corpus_message(name), mail_from=NONMEMBER)
    assert inbound.status == InboundStatus.HELD
    [notice] = smtp_sink.to(MODERATOR)
    assert token_of(notice.message)
    assert len(list(notice.message.iter_attachments())) == 1


def test_a_post_with_overlong_lines_is_attached_as_bytes(mlist, moderator, smtp_sink, committed):
    raw = (
        b"From: outsider@example.net\r\nTo: ant@example.com\r\nSubject: Long\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + b"x" * 5000 + b"\r\n"
    )
    committed(deliver, mlist, raw, mail_from=NONMEMBER)
    [notice] = smtp_sink.to(MODERATOR)
    [attached] = notice.message.iter_attachments()
    assert attached.get_content_type() == "application/octet-stream"
    assert attached.get_content() == raw


def test_a_second_reply_to_request_is_not_taken_for_commands(mlist, held_with_notice, smtp_sink):
    _held, notice = held_with_notice
    reply(mlist, token_of(notice))
    second = reply(mlist, "", to="request", subject=f"Re: {notice['Subject']}")
    assert second.status == InboundStatus.DISCARDED
    assert "no longer valid" in second.error
    assert not [item for item in smtp_sink.to(MODERATOR) if "results of your email" in str(item.message["Subject"])]
