"""Rate limits on confirmation mails, per target address and per client IP."""

from members import ratelimit
from members.workflows import Status, invite, request_subscription

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]


def test_allow_counts_within_a_window(settings):
    settings.MEMBERS_RATE_LIMITS = {"address": (2, 3600)}
    assert [ratelimit.allow("address", "x@example.net") for _ in range(3)] == [True, True, False]
    assert ratelimit.allow("address", "y@example.net")


def test_an_empty_key_is_not_limited(settings):
    settings.MEMBERS_RATE_LIMITS = {"ip": (0, 3600)}
    assert ratelimit.allow("ip", "")
    assert not ratelimit.allow("ip", "192.0.2.1")


def test_one_address_gets_no_more_than_its_allowance(mlist, smtp_sink, settings, committed):
    settings.MEMBERS_RATE_LIMITS = {"address": (3, 3600)}
    results = [committed(request_subscription, mlist, "victim@example.net").status for _ in range(5)]
    assert results == [Status.CONFIRMATION_SENT] * 3 + [Status.RATE_LIMITED] * 2
    assert len(smtp_sink.to("victim@example.net")) == 3


def test_one_client_cannot_flood_many_addresses(mlist, smtp_sink, settings, committed):
    settings.MEMBERS_RATE_LIMITS = {"ip": (2, 3600)}
    results = [
        committed(request_subscription, mlist, f"person{n}@example.net", client_ip="198.51.100.7").public_status
        for n in range(4)
    ]
    assert results == [Status.CONFIRMATION_SENT] * 2 + [Status.RATE_LIMITED] * 2
    assert len(smtp_sink.received) == 2
    assert committed(request_subscription, mlist, "other@example.net", client_ip="203.0.113.9").status == (
        Status.CONFIRMATION_SENT
    )


def test_the_limit_is_the_same_for_a_member_so_it_reveals_nothing(mlist, member, smtp_sink, settings, committed):
    settings.MEMBERS_RATE_LIMITS = {"address": (1, 3600)}
    statuses = [committed(request_subscription, mlist, member.email).public_status for _ in range(2)]
    assert statuses == [Status.CONFIRMATION_SENT, Status.RATE_LIMITED]
    assert len(smtp_sink.received) == 1


def test_invitations_count_towards_the_address_limit(mlist, owner, smtp_sink, settings, committed):
    settings.MEMBERS_RATE_LIMITS = {"address": (1, 3600)}
    assert committed(invite, mlist, "guest@example.net", owner).status == Status.INVITED
    assert committed(invite, mlist, "guest@example.net", owner).status == Status.RATE_LIMITED
    assert len(smtp_sink.received) == 1
