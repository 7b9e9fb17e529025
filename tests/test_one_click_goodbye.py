"""RFC 8058 one-click unsubscription says goodbye like any other leaving, once."""

from lists.services import configure_list
from mailman_site import events
from members.models import Membership
from members.one_click import make_token, read_token
from members.services import remove_membership, subscribe
from members.workflows import Status, unsubscribe_by_one_click

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

ANN = "ann@example.org"


def one_click(mlist, committed):
    """What the endpoint does with a valid POST: read the signed token, leave."""
    email = read_token(mlist.list_id, make_token(mlist.list_id, ANN))
    return committed(unsubscribe_by_one_click, mlist, email)


def goodbyes(smtp_sink) -> list:
    return [mail for mail in smtp_sink.to(ANN) if "You have left" in str(mail.message["Subject"])]


def test_the_member_leaves_at_once_and_gets_the_lists_goodbye(mlist, smtp_sink, committed):
    subscribe(mlist, ANN)
    result = one_click(mlist, committed)
    assert result.status == result.public_status == Status.UNSUBSCRIBED
    assert not Membership.objects.filter(mailing_list=mlist, address__email=ANN).exists()
    [mail] = goodbyes(smtp_sink)
    assert mail.message["From"] == "ant-request@example.com"
    assert mail.mail_from == "ant-bounces@example.com"


def test_a_second_post_removes_nobody_and_sends_nothing(mlist, smtp_sink, committed):
    subscribe(mlist, ANN)
    one_click(mlist, committed)
    again = one_click(mlist, committed)
    assert again.status == Status.NOT_MEMBER
    assert again.public_status == Status.UNSUBSCRIBED, "the same answer as the first time"
    assert len(smtp_sink.received) == 1


def test_no_goodbye_when_the_list_sends_none(mlist, smtp_sink, committed):
    configure_list(mlist, send_goodbye_message=False)
    subscribe(mlist, ANN)
    assert one_click(mlist, committed).status == Status.UNSUBSCRIBED
    assert not smtp_sink.received


def test_no_confirmation_is_asked_even_under_the_confirm_policy(mlist, smtp_sink, committed):
    configure_list(mlist, unsubscription_policy="confirm")
    subscribe(mlist, ANN)
    assert one_click(mlist, committed).status == Status.UNSUBSCRIBED
    assert len(goodbyes(smtp_sink)) == len(smtp_sink.received) == 1


def test_member_removed_is_announced_once(mlist, smtp_sink, committed):
    subscribe(mlist, ANN)
    removed = []
    events.member_removed.connect(lambda **kw: removed.append(kw["emails"]), weak=False, dispatch_uid="oc1")
    try:
        one_click(mlist, committed)
        one_click(mlist, committed)
    finally:
        events.member_removed.disconnect(dispatch_uid="oc1")
    assert removed == [[ANN]]


def test_removing_a_membership_already_gone_announces_nothing(mlist, committed):
    # What the second of two simultaneous POSTs finds once the first has committed.
    membership = subscribe(mlist, ANN)
    removed = []
    events.member_removed.connect(lambda **kw: removed.append(kw["emails"]), weak=False, dispatch_uid="oc2")
    try:
        assert committed(remove_membership, membership) is True
        assert committed(remove_membership, membership) is False
    finally:
        events.member_removed.disconnect(dispatch_uid="oc2")
    assert removed == [[ANN]]


def test_only_the_member_role_is_left(mlist, smtp_sink, committed):
    subscribe(mlist, ANN)
    subscribe(mlist, ANN, role="moderator")
    one_click(mlist, committed)
    assert list(Membership.objects.filter(address__email=ANN).values_list("role", flat=True)) == ["moderator"]
