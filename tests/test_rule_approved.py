from email.message import EmailMessage

import pytest

from lists.services import configure_list
from messages.models import InboundStatus, Post
from messages.pipeline import RULES, get_rule
from tests.inbound_mail import compose, deliver, state_for

PASSWORD = "s3cret moderator words"


@pytest.fixture
def moderated(mlist):
    return configure_list(mlist, moderator_password=PASSWORD)


def from_nonmember(**headers) -> EmailMessage:
    return compose(sender="outsider@example.net", **headers)


def test_approved_header_with_the_moderator_password_accepts_and_is_removed(moderated):
    inbound = deliver(moderated, from_nonmember(Approved=PASSWORD), mail_from="outsider@example.net")
    assert inbound.status == InboundStatus.ACCEPTED
    posted = bytes(Post.objects.get().raw)
    assert b"Approved" not in posted
    assert PASSWORD.encode() not in posted


@pytest.mark.parametrize("header", ["Approve", "X-Approved", "X-Approve"])
def test_the_other_approval_headers_work_too(moderated, header):
    msg = from_nonmember(**{header.replace("-", "_"): PASSWORD})
    state = state_for(msg)
    assert get_rule("approved").check(moderated, msg, state)
    assert header not in msg


def test_a_wrong_password_does_not_approve_but_is_removed_all_the_same(moderated):
    msg = from_nonmember(Approved="guess")
    assert not get_rule("approved").check(moderated, msg, state_for(msg))
    assert "Approved" not in msg


def test_a_post_with_a_wrong_password_is_held_as_any_nonmember_post(moderated):
    inbound = deliver(moderated, from_nonmember(Approved="guess"), mail_from="outsider@example.net")
    assert inbound.status == InboundStatus.HELD


def test_without_a_moderator_password_nothing_is_approved(mlist):
    msg = from_nonmember(Approved="")
    assert not RULES["approved"].check(mlist, msg, state_for(msg))


def test_the_password_as_first_body_line_approves_and_the_line_is_removed(moderated):
    msg = from_nonmember(body=f"\n\nApproved: {PASSWORD}\nThe real text.\n")
    inbound = deliver(moderated, msg, mail_from="outsider@example.net")
    assert inbound.status == InboundStatus.ACCEPTED
    posted = bytes(Post.objects.get().raw)
    assert PASSWORD.encode() not in posted
    assert b"The real text." in posted


def test_the_body_password_line_is_removed_from_the_html_alternative_too(moderated):
    msg = from_nonmember(body=f"Approved: {PASSWORD}\nHello.\n")
    msg.add_alternative(f"<p>Approved:&nbsp;{PASSWORD}</p><p>Hello.</p>", subtype="html")
    assert get_rule("approved").check(moderated, msg, state_for(msg))
    html = msg.get_body(("html",)).get_content()
    assert PASSWORD not in html
    assert "<p>Hello.</p>" in html


def test_a_body_line_that_is_no_approval_is_left_alone(moderated):
    msg = from_nonmember(body="Approval: pending\nHello.\n")
    assert not get_rule("approved").check(moderated, msg, state_for(msg))
    assert msg.get_content() == "Approval: pending\nHello.\n"


def test_a_post_a_moderator_released_hits(mlist):
    msg = from_nonmember()
    state = state_for(msg)
    state.approved = True
    assert get_rule("approved").check(mlist, msg, state)
