"""The hold queue's pages: the queue, one post with its safe preview, each
decision and the bulk ones, who may see them, and hostile input."""

import base64
import re

import pytest
from django.test import Client

from lists.models import Action
from lists.services import create_list
from members.models import Ban, Membership, Role
from members.services import subscribe
from messages import moderation
from messages.models import HeldMessage, HeldStatus, ModerationRecord, Post
from tests.conftest import logged_in, make_user
from tests.inbound_mail import CORPUS, compose, corpus_message, deliver

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

QUEUE = "/lists/ant.example.com/held/"
LOG = "/lists/ant.example.com/moderation-log/"
NONMEMBER = "outsider@example.net"


def hold(mlist, *, sender: str = NONMEMBER, subject: str = "Let me in", **kwargs) -> HeldMessage:
    held = deliver(mlist, compose(sender=sender, subject=subject, **kwargs), mail_from=sender).held
    assert held.status == HeldStatus.PENDING
    return held


def hold_raw(mlist, raw: bytes) -> HeldMessage:
    inbound = deliver(mlist, raw, mail_from=NONMEMBER)
    return HeldMessage.objects.get(inbound=inbound)


@pytest.fixture
def held(mlist) -> HeldMessage:
    return hold(mlist)


def decide(client: Client, held: HeldMessage, action: str, reason: str = ""):
    return client.post(f"{QUEUE}{held.pk}/decide/", {"action": action, "reason": reason})


def status_of(held: HeldMessage) -> str:
    held.refresh_from_db()
    return held.status


def test_the_queue_lists_sender_subject_date_size_and_reason(owner_client, held):
    content = owner_client.get(QUEUE).content.decode()
    assert NONMEMBER in content
    assert "Let me in" in content
    assert held.held_at.strftime("%Y-%m-%d") in content
    assert "The message is not from a list member" in content
    assert "1 post waits for a decision." in content
    assert re.search(r"\d+(\.\d+)?\xa0(bytes|KB)", content)


def test_the_queue_pages_by_fifty(owner_client, mlist):
    for number in range(51):
        hold(mlist, subject=f"Post {number}")
    first = owner_client.get(QUEUE).content.decode()
    assert "Page 1 of 2" in first
    assert "Post 0<" in first and "Post 50<" not in first
    assert "Post 50<" in owner_client.get(QUEUE, {"page": 2}).content.decode()


def test_the_post_page_shows_its_text_and_parts(owner_client, mlist):
    held = hold(mlist, body="Dear ants,\nplease let me in.\n")
    content = owner_client.get(f"{QUEUE}{held.pk}/").content.decode()
    assert "please let me in." in content
    assert "text/plain" in content
    assert "Approve and always accept this sender" in content


def test_approving_posts_the_message_and_logs_it(owner_client, owner, held):
    response = decide(owner_client, held, "approve")
    assert response.status_code == 302 and response["Location"] == QUEUE
    assert status_of(held) == HeldStatus.APPROVED
    assert Post.objects.get().subject == "[ant] Let me in"
    [entry] = ModerationRecord.objects.all()
    assert (entry.action, entry.actor, entry.via, entry.sender) == ("approved", owner, "web", NONMEMBER)
    assert "is approved and goes to the list" in owner_client.get(QUEUE).content.decode()


def test_rejecting_sends_the_reason_to_the_sender(owner_client, held, smtp_sink):
    decide(owner_client, held, "reject", "Subscribe first, <b>please</b>.")
    assert status_of(held) == HeldStatus.REJECTED
    [notice] = [item for item in smtp_sink.to(NONMEMBER) if "rejected" in str(item.message["Subject"])]
    assert "Subscribe first, <b>please</b>." in notice.message.get_body(("plain",)).get_content()
    assert ModerationRecord.objects.get().reason == "Subscribe first, <b>please</b>."


def test_discarding_drops_the_post(owner_client, held, smtp_sink):
    decide(owner_client, held, "discard")
    assert status_of(held) == HeldStatus.DISCARDED
    assert not Post.objects.exists()


def test_deferring_leaves_the_post_pending_and_logs_a_look(owner_client, held):
    decide(owner_client, held, "defer")
    assert status_of(held) == HeldStatus.PENDING
    assert ModerationRecord.objects.get().action == "deferred"


def test_approve_and_always_accept_the_sender(owner_client, mlist, held):
    decide(owner_client, held, "approve_accept")
    assert status_of(held) == HeldStatus.APPROVED
    record = Membership.objects.get(mailing_list=mlist, address__email=NONMEMBER, role=Role.NONMEMBER)
    assert record.moderation_action == Action.ACCEPT
    assert set(ModerationRecord.objects.values_list("action", flat=True)) == {"approved", "sender_accepted"}
    later = deliver(mlist, compose(sender=NONMEMBER, subject="Again"), mail_from=NONMEMBER)
    assert later.status == "accepted"


def test_approve_and_always_accept_a_moderated_member(owner_client, mlist, member):
    Membership.objects.filter(address__email=member.email).update(moderation_action=Action.HOLD)
    held = hold(mlist, sender=member.email)
    decide(owner_client, held, "approve_accept")
    membership = Membership.objects.get(mailing_list=mlist, address__email=member.email, role=Role.MEMBER)
    assert membership.moderation_action == Action.ACCEPT
    assert not Membership.objects.filter(address__email=member.email, role=Role.NONMEMBER).exists()


def test_discard_and_ban_the_sender(owner_client, mlist, held):
    decide(owner_client, held, "discard_ban")
    assert status_of(held) == HeldStatus.DISCARDED
    assert Ban.objects.filter(mailing_list=mlist, email=NONMEMBER).exists()
    assert set(ModerationRecord.objects.values_list("action", flat=True)) == {"discarded", "sender_banned"}


def test_bulk_decisions_on_selected_posts(owner_client, mlist):
    first, second, third = (hold(mlist, subject=f"Post {number}") for number in range(3))
    response = owner_client.post(f"{QUEUE}decide/", {"action": "discard", "held": [first.pk, third.pk]})
    assert response.status_code == 302
    assert [status_of(item) for item in (first, second, third)] == ["discarded", "pending", "discarded"]
    assert ModerationRecord.objects.count() == 2


def test_bulk_reject_sends_each_sender_the_reason(owner_client, mlist, smtp_sink):
    posts = [hold(mlist, sender=f"outsider{number}@example.net") for number in range(2)]
    owner_client.post(f"{QUEUE}decide/", {"action": "reject", "reason": "No.", "held": [p.pk for p in posts]})
    for number in range(2):
        notices = smtp_sink.to(f"outsider{number}@example.net")
        assert any("rejected" in str(item.message["Subject"]) for item in notices)


@pytest.mark.parametrize(
    "data",
    [
        {"action": "approve"},
        {"action": "explode", "held": ["HELD"]},
        {"action": "approve", "held": ["abc"]},
        {"action": "approve", "held": ["99999999999999999999999"]},
        {"action": "approve_accept", "held": ["HELD"]},
        {"action": "reject", "held": ["HELD"], "reason": "x" * 1001},
    ],
)
def test_bad_bulk_requests_are_400_and_change_nothing(owner_client, held, data):
    data = {**data, "held": [str(held.pk) if ref == "HELD" else ref for ref in data.get("held", [])]}
    assert owner_client.post(f"{QUEUE}decide/", data).status_code == 400
    assert status_of(held) == HeldStatus.PENDING


def test_a_post_of_another_list_cannot_be_decided_in_bulk(owner_client, domain, held):
    wasp = create_list("wasp@example.com")
    foreign = hold(wasp)
    assert owner_client.post(f"{QUEUE}decide/", {"action": "discard", "held": [foreign.pk]}).status_code == 400
    assert status_of(foreign) == HeldStatus.PENDING


@pytest.mark.parametrize(
    "data",
    [{"action": "delete"}, {}, {"action": "reject", "reason": "x" * 1001}, {"action": "reject", "reason": "a\x00b"}],
)
def test_bad_decisions_are_400_and_change_nothing(owner_client, held, smtp_sink, data):
    assert owner_client.post(f"{QUEUE}{held.pk}/decide/", data).status_code == 400
    assert status_of(held) == HeldStatus.PENDING


@pytest.mark.parametrize("ref", ["999999", "99999999999999999999999"])
def test_unknown_posts_are_404(owner_client, held, ref):
    assert owner_client.get(f"{QUEUE}{ref}/").status_code == 404
    assert owner_client.post(f"{QUEUE}{ref}/decide/", {"action": "approve"}).status_code == 404


def test_decisions_are_post_only(owner_client, held):
    assert owner_client.get(f"{QUEUE}{held.pk}/decide/", {"action": "approve"}).status_code == 405
    assert owner_client.get(f"{QUEUE}decide/").status_code == 405
    assert status_of(held) == HeldStatus.PENDING


def test_decisions_need_the_csrf_token(owner, held):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert decide(client, held, "approve").status_code == 403
    assert status_of(held) == HeldStatus.PENDING


def test_the_second_of_two_moderators_is_told_the_first_decided(owner_client, owner, mlist, held):
    moderator = make_user("moderator@example.org")
    subscribe(mlist, moderator.email, role=Role.MODERATOR)
    moderation.discard(HeldMessage.objects.get(pk=held.pk), moderator)
    response = decide(owner_client, held, "approve")
    assert response.status_code == 302
    assert status_of(held) == HeldStatus.DISCARDED
    assert not Post.objects.exists()
    content = owner_client.get(QUEUE).content.decode()
    assert "This message has already been discarded. Someone decided on it first." in content


def test_a_moderator_of_the_list_decides(mlist, held):
    moderator = make_user("moderator@example.org")
    subscribe(mlist, moderator.email, role=Role.MODERATOR)
    client = logged_in(moderator)
    assert client.get(QUEUE).status_code == 200
    decide(client, held, "discard")
    assert status_of(held) == HeldStatus.DISCARDED


def test_a_moderator_of_another_list_sees_nothing_here(domain, mlist, held):
    wasp_moderator = make_user("wasp-moderator@example.org")
    subscribe(create_list("wasp@example.com"), wasp_moderator.email, role=Role.MODERATOR)
    client = logged_in(wasp_moderator)
    for url in (QUEUE, f"{QUEUE}{held.pk}/", LOG):
        assert client.get(url).status_code == 403
    assert decide(client, held, "approve").status_code == 403
    assert client.post(f"{QUEUE}decide/", {"action": "approve", "held": [held.pk]}).status_code == 403
    assert status_of(held) == HeldStatus.PENDING


def test_a_hidden_list_is_404_for_a_moderator_of_another_list(domain, mlist, held):
    from lists.services import configure_list

    configure_list(mlist, advertised=False)
    wasp_moderator = make_user("wasp-moderator@example.org")
    subscribe(create_list("wasp@example.com"), wasp_moderator.email, role=Role.MODERATOR)
    client = logged_in(wasp_moderator)
    assert client.get(f"{QUEUE}{held.pk}/").status_code == 404
    assert decide(client, held, "approve").status_code == 404


def test_members_may_not_see_the_queue(member, held):
    client = logged_in(member)
    assert client.get(QUEUE).status_code == 403
    assert client.get(f"{QUEUE}{held.pk}/").status_code == 403
    assert decide(client, held, "approve").status_code == 403
    assert status_of(held) == HeldStatus.PENDING


def test_anonymous_visitors_are_sent_to_log_in(client, held):
    for response in (client.get(QUEUE), client.get(f"{QUEUE}{held.pk}/"), decide(client, held, "approve")):
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]
    assert status_of(held) == HeldStatus.PENDING


def test_xss_in_subject_sender_and_body_is_shown_as_text(owner_client, mlist):
    script = "<script>alert(1)</script>"
    held = hold(mlist, sender=f'"{script}" <evil@example.net>', subject=f"Hi {script}", body=f"Body {script}\n")
    for url in (QUEUE, f"{QUEUE}{held.pk}/"):
        content = owner_client.get(url).content.decode()
        assert script not in content
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_html_is_shown_as_source_never_rendered(owner_client, mlist):
    msg = compose(sender=NONMEMBER, subject="Shiny")
    msg.set_content('<p onclick="steal()">Hi <img src="http://tracker.example/x.png"></p>', subtype="html")
    held = HeldMessage.objects.get(inbound=deliver(mlist, msg, mail_from=NONMEMBER))
    content = owner_client.get(f"{QUEUE}{held.pk}/").content.decode()
    assert "<img" not in content and 'onclick="steal()"' not in content
    assert "&lt;img src=&quot;http://tracker.example/x.png&quot;&gt;" in content
    assert "shown as source" in content


def test_attachments_are_listed_not_opened(owner_client, mlist):
    msg = compose(sender=NONMEMBER, subject="Files", body="See attached.\n")
    payload = b"MZ\x90\x00 attachment-payload-that-must-stay-unopened"
    msg.add_attachment(payload, maintype="application", subtype="x-msdownload", filename="run<me>.exe")
    held = HeldMessage.objects.get(inbound=deliver(mlist, msg, mail_from=NONMEMBER))
    content = owner_client.get(f"{QUEUE}{held.pk}/").content.decode()
    assert "application/x-msdownload" in content
    assert "run&lt;me&gt;.exe" in content
    # Neither the bytes nor their transfer encoding reach the page (a bare "MZ"
    # could turn up by chance in a CSRF token).
    assert "attachment-payload-that-must-stay-unopened" not in content
    assert base64.b64encode(payload).decode()[:40] not in content


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.iterdir()))
def test_every_corpus_message_previews_without_error(owner_client, mlist, name):
    inbound = deliver(mlist, corpus_message(name), mail_from=NONMEMBER)
    held = HeldMessage.objects.filter(inbound=inbound).first()
    if held is None:
        pytest.skip(f"{name} was not held ({inbound.status})")
    assert owner_client.get(QUEUE).status_code == 200
    assert owner_client.get(f"{QUEUE}{held.pk}/").status_code == 200


def test_broken_mime_and_bad_charsets_preview(owner_client, mlist):
    raw = (
        b"From: =?x-unknown?B?!!!?= <outsider@example.net>\r\nTo: ant@example.com\r\n"
        b"Subject: =?utf-8?q?broken=ZZ?= \xff\xfe\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n'
        b"--never-closed\r\nContent-Type: text/plain; charset=x-klingon\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64\xff\r\n"
        b'--never-closed\r\nContent-Type: application/pdf; name="=?bogus?Q?x?="\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n"
    )
    held = hold_raw(mlist, raw)
    response = owner_client.get(f"{QUEUE}{held.pk}/")
    assert response.status_code == 200
    assert "application/pdf" in response.content.decode()


def test_the_list_page_shows_moderators_what_waits(owner_client, client, mlist, held):
    content = owner_client.get("/lists/ant.example.com/").content.decode()
    assert "1 held post" in content and "0 subscription requests" in content
    assert "held post" not in client.get("/lists/ant.example.com/").content.decode()


def test_members_do_not_see_the_pending_counts(member, held):
    assert "held post" not in logged_in(member).get("/lists/ant.example.com/").content.decode()


def test_the_log_page_lists_decisions(owner_client, owner, mlist, held, smtp_sink):
    decide(owner_client, held, "reject", "Not <i>today</i>")
    content = owner_client.get(LOG).content.decode()
    assert "rejected" in content
    assert owner.username in content
    assert "Not &lt;i&gt;today&lt;/i&gt;" in content
    assert NONMEMBER in content


def test_the_log_pages_by_fifty(owner_client, mlist):
    for number in range(51):
        moderation.discard(hold(mlist, subject=f"Post {number}"), None)
    assert "Page 1 of 2" in owner_client.get(LOG).content.decode()


def test_members_may_not_see_the_log(member, held):
    assert logged_in(member).get(LOG).status_code == 403
