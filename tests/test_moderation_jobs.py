"""The hold queue's periodic jobs: held posts expiring, and the daily summary."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from lists.models import TemplateName
from lists.services import configure_list, create_list, set_template
from members.models import Role
from members.services import subscribe
from members.workflows import request_subscription
from messages import moderation
from messages.models import HeldMessage, HeldStatus, InboundStatus, ModerationRecord
from messages.moderation_jobs import expire_held, send_summaries
from tests.inbound_mail import compose, deliver

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

NONMEMBER = "outsider@example.net"


def hold(mlist, subject: str = "Let me in", *, days_ago: int = 0) -> HeldMessage:
    held = deliver(mlist, compose(sender=NONMEMBER, subject=subject), mail_from=NONMEMBER).held
    HeldMessage.objects.filter(pk=held.pk).update(held_at=timezone.now() - timedelta(days=days_ago))
    return held


def owner_mails(smtp_sink, subject_part: str) -> list:
    return [item for item in smtp_sink.to("owner@example.org") if subject_part in str(item.message["Subject"])]


@pytest.fixture
def quiet(mlist, owner):
    """Notices of each held post off, so that only the jobs' mails reach the owner."""
    configure_list(mlist, admin_immed_notify=False)
    return mlist


def test_posts_held_too_long_expire_and_the_owners_are_told_once(quiet, smtp_sink):
    old = [hold(quiet, f"Old {number}", days_ago=15) for number in range(2)]
    fresh = hold(quiet, "Fresh", days_ago=13)
    assert expire_held() == 2
    for held in old:
        held.refresh_from_db()
        held.inbound.refresh_from_db()
        assert (held.status, held.inbound.status) == (HeldStatus.EXPIRED, InboundStatus.DISCARDED)
    fresh.refresh_from_db()
    assert fresh.status == HeldStatus.PENDING
    [notice] = owner_mails(smtp_sink, "expired")
    text = notice.message.get_content()
    assert "Old 0" in text and "Old 1" in text and "Fresh" not in text
    records = ModerationRecord.objects.filter(action="expired")
    assert records.count() == 2
    assert {(record.via, record.actor, record.actor_email) for record in records} == {("site", None, "")}


def test_owners_reword_the_expiry_notice(quiet, smtp_sink):
    set_template(quiet, TemplateName.EXPIRED_NOTICE, "Gone after $days days:\n$data")
    hold(quiet, "Old", days_ago=15)
    expire_held()
    [notice] = owner_mails(smtp_sink, "expired")
    text = notice.message.get_content().replace("\r\n", "\n")
    assert text.startswith("Gone after 14 days:\n") and "Old" in text


def test_expiry_runs_twice_harmlessly(quiet, smtp_sink):
    hold(quiet, days_ago=20)
    assert expire_held() == 1
    assert expire_held() == 0
    assert len(owner_mails(smtp_sink, "expired")) == 1


def test_a_list_that_keeps_held_posts_never_expires_them(quiet, smtp_sink):
    configure_list(quiet, max_days_to_hold=0)
    held = hold(quiet, days_ago=400)
    assert expire_held() == 0
    held.refresh_from_db()
    assert held.status == HeldStatus.PENDING


def test_each_list_expires_by_its_own_days(quiet, domain, smtp_sink):
    configure_list(quiet, max_days_to_hold=3)
    wasp = create_list("wasp@example.com")
    short, long_ = hold(quiet, days_ago=4), hold(wasp, days_ago=4)
    assert expire_held() == 1
    short.refresh_from_db()
    long_.refresh_from_db()
    assert (short.status, long_.status) == (HeldStatus.EXPIRED, HeldStatus.PENDING)


def test_a_post_decided_meanwhile_is_not_expired(quiet, owner):
    held = hold(quiet, days_ago=30)
    moderation.approve(held, owner)
    assert expire_held() == 0
    held.refresh_from_db()
    assert held.status == HeldStatus.APPROVED


def test_the_expiry_command(quiet, smtp_sink):
    from io import StringIO

    hold(quiet, days_ago=30)
    out = StringIO()
    call_command("expire_held_posts", stdout=out)
    assert "1 held post(s) expired" in out.getvalue()


def test_the_summary_lists_held_posts_and_requests(quiet, smtp_sink, committed):
    subscribe(quiet, "moderator@example.org", role=Role.MODERATOR)
    hold(quiet, "Waiting post")
    configure_list(quiet, subscription_policy="moderate")
    committed(request_subscription, quiet, "newcomer@example.net", pre_verified=True)
    assert send_summaries(force=True) == 1
    [summary] = owner_mails(smtp_sink, "moderation requests waiting")
    assert sorted(summary.rcpt_tos) == ["moderator@example.org", "owner@example.org"]
    text = summary.message.get_content()
    assert "2 moderation requests waiting" in text
    assert "Waiting post" in text and "newcomer@example.net" in text
    assert "/lists/ant.example.com/held/" in text


def test_the_summary_goes_once_a_day_from_its_hour(quiet, smtp_sink, settings):
    settings.MODERATION_SUMMARY_HOUR = 8
    hold(quiet)
    morning = timezone.now().replace(hour=7, minute=30)
    assert send_summaries(morning) == 0
    assert send_summaries(morning.replace(hour=9)) == 1
    assert send_summaries(morning.replace(hour=10)) == 0
    assert send_summaries(morning.replace(hour=9) + timedelta(days=1)) == 1


def test_no_summary_when_nothing_waits_or_the_list_says_no(quiet, smtp_sink):
    assert send_summaries(force=True) == 0
    hold(quiet)
    configure_list(quiet, send_moderation_summary=False)
    assert send_summaries(force=True) == 0
    assert not smtp_sink.received or not owner_mails(smtp_sink, "waiting")


def test_the_summary_command(quiet, smtp_sink):
    from io import StringIO

    hold(quiet)
    out = StringIO()
    call_command("send_moderation_summaries", stdout=out)
    assert "1 summary(ies) sent" in out.getvalue()
    assert len(owner_mails(smtp_sink, "moderation requests waiting")) == 1
