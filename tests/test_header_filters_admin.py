"""The header and body filters inline on the list's admin page: saved
through lists.services.set_content_filters, refused with the same check."""

import pytest

from lists.models import Action, ContentFilter, MailingList
from lists.services import set_content_filters
from tests.test_admin import admin_url, form_data

PREFIX = "content_filters"


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


def page_data(client, mlist) -> dict:
    """The change page's form as a browser posts it unchanged (form_data
    leaves out zeros, and a position may be 0)."""
    response = client.get(admin_url(MailingList, "change", mlist.pk))
    data = form_data(response)
    for index, form in enumerate(filter_inline(response).formset.forms):
        if form["position"].value() is not None:
            data[f"{PREFIX}-{index}-position"] = form["position"].value()
    return data


def filter_inline(response):
    return next(i for i in response.context["inline_admin_formsets"] if i.formset.model is ContentFilter)


def test_the_inline_shows_the_lists_filters_in_order(admin_client, mlist):
    set_content_filters(
        mlist,
        [
            {"part": "body", "pattern": "second", "action": Action.HOLD},
            {"part": "header", "header": "Subject", "pattern": "third", "action": Action.DISCARD},
        ],
    )
    inline = filter_inline(admin_client.get(admin_url(MailingList, "change", mlist.pk)))
    assert [row.pattern for row in inline.formset.queryset] == ["second", "third"]
    assert Action.DEFER not in dict(inline.formset.forms[0].fields["action"].choices)


def test_a_filter_added_in_the_inline_is_saved_through_the_service(admin_client, mlist):
    set_content_filters(mlist, [{"part": "header", "header": "Subject", "pattern": "old", "action": "hold"}])
    data = page_data(admin_client, mlist)
    data.update(
        {
            f"{PREFIX}-1-position": "0",
            f"{PREFIX}-1-part": "header",
            f"{PREFIX}-1-header": "X-Spam-Flag",
            f"{PREFIX}-1-pattern": "^yes ",
            f"{PREFIX}-1-action": "discard",
            f"{PREFIX}-0-position": "1",
        }
    )
    response = admin_client.post(admin_url(MailingList, "change", mlist.pk), data)
    assert response.status_code == 302
    rows = ContentFilter.objects.filter(mailing_list=mlist).order_by("position")
    assert [(row.position, row.header, row.pattern) for row in rows] == [
        (0, "X-Spam-Flag", "^yes "),
        (1, "Subject", "old"),
    ]


def test_a_filter_removed_in_the_inline_is_gone(admin_client, mlist):
    set_content_filters(mlist, [{"part": "body", "pattern": "x", "action": "hold"}])
    data = page_data(admin_client, mlist)
    data[f"{PREFIX}-0-DELETE"] = "on"
    response = admin_client.post(admin_url(MailingList, "change", mlist.pk), data)
    assert response.status_code == 302
    assert not ContentFilter.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pattern", "(unclosed", "missing )"),
        ("pattern", r"(a)\1", "invalid escape sequence"),
        ("header", "Bad Header", "Not a header name"),
    ],
)
def test_a_bad_filter_is_an_error_beside_it_and_nothing_is_saved(admin_client, mlist, field, value, message):
    set_content_filters(mlist, [{"part": "body", "pattern": "kept", "action": "hold"}])
    data = page_data(admin_client, mlist)
    data.update(
        {
            f"{PREFIX}-1-part": "header",
            f"{PREFIX}-1-header": "Subject",
            f"{PREFIX}-1-pattern": "new",
            f"{PREFIX}-1-action": "hold",
            f"{PREFIX}-1-{field}": value,
        }
    )
    response = admin_client.post(admin_url(MailingList, "change", mlist.pk), data)
    assert response.status_code == 200
    errors = filter_inline(response).formset.forms[1].errors
    assert message in " ".join(errors[field])
    assert list(ContentFilter.objects.values_list("pattern", flat=True)) == ["kept"]
