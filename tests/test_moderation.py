"""The hold queue: hold, approve, reject and discard (messages.moderation)."""

from copy import copy

import pytest

from lists.services import configure_list
from members.models import Role
from members.services import subscribe
from messages import moderation
from messages.models import HeldMessage, HeldStatus, InboundStatus, Post
from messages.pipeline import Handler, register_handler, registry
from tests.inbound_mail import compose, deliver

pytest_plugins = ["tests.mail_fixtures"]

NONMEMBER = "outsider@example.net"


@pytest.fixture
def held(mlist, member) -> HeldMessage:
    msg = compose(sender=NONMEMBER, subject="Let me in", Approved="wrong password")
    inbound = deliver(mlist, msg, mail_from=NONMEMBER)
    assert inbound.status == InboundStatus.HELD
    return inbound.held


def statuses(held: HeldMessage) -> tuple[str, str]:
    held.refresh_from_db()
    held.inbound.refresh_from_db()
    return held.status, held.inbound.status


def test_a_held_post_lists_its_sender_subject_and_reasons(held):
    assert (held.sender, held.subject, held.status) == (NONMEMBER, "Let me in", HeldStatus.PENDING)
    assert held.reasons == ["The message is not from a list member"]
    assert not Post.objects.exists()


def test_held_post_is_released_on_approval(held, owner):
    post = moderation.approve(held, owner)
    assert statuses(held) == (HeldStatus.APPROVED, InboundStatus.ACCEPTED)
    assert held.decided_by == owner
    assert held.decided_at is not None
    assert post == Post.objects.get()
    assert (post.sequence, post.subject, post.sender) == (1, "[ant] Let me in", NONMEMBER)
    assert post.recipient_count == 1
    assert b"wrong password" not in bytes(post.raw)


def test_an_approved_post_passes_even_emergency_moderation(mlist, member, owner):
    configure_list(mlist, emergency=True)
    held = deliver(mlist, compose()).held
    assert moderation.approve(held, owner).sequence == 1


def test_a_decision_is_taken_once(held, owner):
    moderation.approve(held, owner)
    for decide in (moderation.approve, moderation.discard):
        with pytest.raises(moderation.AlreadyDecided):
            decide(held, owner)
    assert Post.objects.count() == 1


def test_a_stale_copy_of_a_decided_message_cannot_be_decided_again(held, owner):
    stale = HeldMessage.objects.get(pk=held.pk)
    moderation.discard(held, owner)
    with pytest.raises(moderation.AlreadyDecided, match="discarded"):
        moderation.approve(stale, owner)


def test_a_release_that_fails_leaves_the_post_held(held, owner, monkeypatch):
    registry.load_builtins()
    monkeypatch.setattr(registry, "HANDLERS", copy(registry.HANDLERS))

    @register_handler
    class Crash(Handler):
        name = "crash"
        description = "Fails."

        def process(self, mlist, msg, state):
            raise ValueError("the handler broke")

    monkeypatch.setattr(registry, "DEFAULT_PIPELINE", ["crash", *registry.DEFAULT_PIPELINE])
    with pytest.raises(moderation.ReleaseFailed, match="the handler broke"):
        moderation.approve(held, owner)
    assert statuses(held) == (HeldStatus.PENDING, InboundStatus.HELD)
    assert not Post.objects.exists()


def test_a_rejected_post_sends_its_sender_a_notice_with_the_reason(held, owner, smtp_sink):
    moderation.reject(held, owner, "Please subscribe first.")
    assert statuses(held) == (HeldStatus.REJECTED, InboundStatus.REJECTED)
    assert held.decision_reason == "Please subscribe first."
    [notice] = smtp_sink.to(NONMEMBER)
    text = notice.message.get_body(("plain",)).get_content()
    assert "Let me in" in text
    assert "Please subscribe first." in text
    assert not Post.objects.exists()


def test_a_rejection_whose_notice_cannot_be_sent_changes_nothing(held, owner, smtp_down):
    with pytest.raises(moderation.NoticeNotSent):
        moderation.reject(held, owner, "No.")
    assert statuses(held) == (HeldStatus.PENDING, InboundStatus.HELD)


def test_a_discarded_post_goes_nowhere(held, owner, smtp_sink):
    moderation.discard(held, owner)
    assert statuses(held) == (HeldStatus.DISCARDED, InboundStatus.DISCARDED)
    assert not Post.objects.exists()
    assert not smtp_sink.received


def test_moderators_are_told_of_a_held_post(mlist, owner, smtp_sink, django_capture_on_commit_callbacks):
    subscribe(mlist, "moderator@example.org", role=Role.MODERATOR)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(mlist, compose(sender=NONMEMBER, subject="Let me in"), mail_from=NONMEMBER)
    [notice] = smtp_sink.to("owner@example.org")
    assert sorted(notice.rcpt_tos) == ["moderator@example.org", "owner@example.org"]
    text = notice.message.get_body(("plain",)).get_content()
    assert NONMEMBER in text and "Let me in" in text
    assert "The message is not from a list member" in text


def test_moderators_are_not_told_when_the_list_says_so(mlist, owner, smtp_sink, django_capture_on_commit_callbacks):
    configure_list(mlist, admin_immed_notify=False)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(mlist, compose(sender=NONMEMBER), mail_from=NONMEMBER)
    assert not smtp_sink.to("owner@example.org")


def test_a_hold_notice_that_cannot_be_sent_leaves_the_post_held(
    mlist, owner, smtp_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        inbound = deliver(mlist, compose(sender=NONMEMBER), mail_from=NONMEMBER)
    assert inbound.status == InboundStatus.HELD


def test_holding_and_deciding_are_announced_after_commit(mlist, member, owner, django_capture_on_commit_callbacks):
    from mailman_site import events

    heard = []

    def listen(sender, **payload):
        heard.append(sender)

    for name in ("message_held", "held_message_decided", "message_posted"):
        events.CATALOGUE[name].connect(listen, dispatch_uid=f"test-{name}")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            inbound = deliver(mlist, compose(sender=NONMEMBER), mail_from=NONMEMBER)
        assert heard == ["message_held"]
        with django_capture_on_commit_callbacks(execute=True):
            moderation.approve(inbound.held, owner)
        assert heard == ["message_held", "held_message_decided", "message_posted"]
    finally:
        for name in ("message_held", "held_message_decided", "message_posted"):
            events.CATALOGUE[name].disconnect(dispatch_uid=f"test-{name}")
