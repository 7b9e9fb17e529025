"""messages.list_configuration: a list's bans, filters and footer texts are
read once per process and read again when they change, however and
wherever they were changed."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from lists.models import Action, ContentFilter, FilterPart, ListTemplate, TemplateName
from lists.services import create_list, set_content_filters, set_template
from members.models import Ban
from members.services import ban
from messages.list_configuration import configuration_for
from messages.models import ConfigurationStamp, InboundStatus
from tests.inbound_mail import compose, deliver

pytest_plugins = ["tests.mail_fixtures"]


@pytest.fixture
def stamp_row(transactional_db) -> None:
    """The stamp's row, which the migration makes and a flush between
    transactional tests removes (without it nothing is kept)."""
    ConfigurationStamp.objects.get_or_create(pk=1)


def stamp() -> int:
    return ConfigurationStamp.objects.get().stamp


def in_another_connection(change) -> None:
    """Run `change` on a connection of its own, as another process would, and commit."""

    def run() -> None:
        try:
            change()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()


def test_the_configuration_is_read_once_while_the_stamp_is_unchanged(mlist, django_assert_num_queries):
    now = stamp()
    first = configuration_for(mlist, now)
    with django_assert_num_queries(0):
        assert configuration_for(mlist, now) is first


def test_a_new_stamp_reads_the_configuration_again(mlist):
    first = configuration_for(mlist, stamp())
    ban(mlist, "eve@example.net")
    again = configuration_for(mlist, stamp())
    assert again is not first
    assert "eve@example.net" in again.bans
    assert "eve@example.net" not in first.bans


def test_without_a_stamp_the_configuration_is_read_each_time(mlist):
    assert configuration_for(mlist, None) is not configuration_for(mlist, None)


def test_each_list_has_its_own_configuration(mlist):
    other = create_list("bee@example.com")
    ban(mlist, "eve@example.net")
    assert "eve@example.net" in configuration_for(mlist, stamp()).bans
    assert "eve@example.net" not in configuration_for(other, stamp()).bans


CHANGES = {
    "ban added": lambda mlist: Ban.objects.create(mailing_list=mlist, email="eve@example.net"),
    "site-wide ban added": lambda mlist: Ban.objects.create(email="eve@example.net"),
    "ban changed": lambda mlist: Ban.objects.filter(email="old@example.net").update(email="new@example.net"),
    "ban removed": lambda mlist: Ban.objects.filter(email="old@example.net").delete(),
    "filter added": lambda mlist: ContentFilter.objects.bulk_create(
        [ContentFilter(mailing_list=mlist, header="Subject", pattern="x")]
    ),
    "filter changed": lambda mlist: ContentFilter.objects.update(action=Action.REJECT),
    "filter removed": lambda mlist: ContentFilter.objects.all().delete(),
    "template added": lambda mlist: ListTemplate.objects.create(name=TemplateName.REGULAR_HEADER, text="Hi"),
    "template changed": lambda mlist: ListTemplate.objects.update(text="Bye"),
    "template removed": lambda mlist: ListTemplate.objects.all().delete(),
}


@pytest.mark.parametrize("change", CHANGES)
def test_every_change_to_bans_filters_and_templates_changes_the_stamp(mlist, change):
    # The database changes it (triggers), so no way of writing these rows escapes it.
    ban(mlist, "old@example.net")
    set_content_filters(mlist, [{"part": FilterPart.HEADER, "header": "Subject", "pattern": "x", "action": "hold"}])
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Footer")
    before = stamp()
    CHANGES[change](mlist)
    assert stamp() != before


def test_a_ban_applies_to_the_next_post(mlist, member):
    assert deliver(mlist, compose()).status == InboundStatus.ACCEPTED
    ban(mlist, "member@example.org")
    assert deliver(mlist, compose()).status == InboundStatus.DISCARDED


def test_a_lifted_ban_no_longer_applies_to_the_next_post(mlist, member):
    ban(None, "^.*@example\\.org$")
    assert deliver(mlist, compose()).status == InboundStatus.DISCARDED
    Ban.objects.all().delete()
    assert deliver(mlist, compose()).status == InboundStatus.ACCEPTED


def test_a_filter_changed_by_a_bulk_update_applies_to_the_next_post(mlist, member):
    set_content_filters(
        mlist, [{"part": FilterPart.HEADER, "header": "Subject", "pattern": "^nothing$", "action": "hold"}]
    )
    assert deliver(mlist, compose(subject="Buy now")).status == InboundStatus.ACCEPTED
    ContentFilter.objects.filter(mailing_list=mlist).update(pattern="buy", action=Action.DISCARD)
    assert deliver(mlist, compose(subject="Buy now")).status == InboundStatus.DISCARDED


def test_a_new_footer_is_on_the_next_post(mlist, member):
    assert b"Ants and their friends" not in bytes(deliver(mlist, compose()).post.raw)
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Ants and their friends")
    assert b"Ants and their friends" in bytes(deliver(mlist, compose()).post.raw)


def test_a_ban_committed_by_another_process_applies_to_the_next_post(stamp_row, mlist, member):
    assert deliver(mlist, compose()).status == InboundStatus.ACCEPTED
    in_another_connection(lambda: Ban.objects.create(email="member@example.org"))
    assert deliver(mlist, compose()).status == InboundStatus.DISCARDED


def test_a_filter_removed_by_another_process_no_longer_applies_to_the_next_post(stamp_row, mlist, member):
    set_content_filters(mlist, [{"part": FilterPart.HEADER, "header": "Subject", "pattern": "buy", "action": "hold"}])
    assert deliver(mlist, compose(subject="Buy now")).status == InboundStatus.HELD
    in_another_connection(lambda: ContentFilter.objects.filter(mailing_list=mlist).delete())
    assert deliver(mlist, compose(subject="Buy now")).status == InboundStatus.ACCEPTED
