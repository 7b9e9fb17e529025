"""/lists/{list_id}/filters/: a list's header and body filters, read and
replaced whole by its owners and site admins only."""

import pytest

from lists.models import ContentFilter
from lists.services import create_list, set_content_filters
from members.models import Role
from members.services import subscribe
from tests.api_callers import API, client_for, key_client, make_moderator
from tests.conftest import make_user

pytest_plugins = ["tests.mail_fixtures"]

FILTERS = f"{API}/lists/ant.example.com/filters/"
SUBJECT_FILTER = {"part": "header", "header": "Subject", "pattern": "cheap", "action": "hold"}
BODY_FILTER = {"part": "body", "header": "", "pattern": "^buy now$", "action": "discard"}


@pytest.fixture
def stored(mlist) -> list[ContentFilter]:
    return set_content_filters(mlist, [SUBJECT_FILTER, BODY_FILTER])


@pytest.mark.parametrize("role", ["owner", "site_admin"])
def test_owners_and_site_admins_read_the_filters_in_order(request, role, stored):
    response = client_for(request.getfixturevalue(role)).get(FILTERS)
    assert response.status_code == 200
    assert response.json() == {"filters": [SUBJECT_FILTER, BODY_FILTER]}


def test_put_replaces_the_ordered_list(owner, stored):
    new = [
        BODY_FILTER,
        {**SUBJECT_FILTER, "action": "reject"},
        {"pattern": "x+", "header": "X-Mailer", "action": "accept"},
    ]
    response = client_for(owner).put(FILTERS, {"filters": new}, format="json")
    assert response.status_code == 200
    expected = [BODY_FILTER, {**SUBJECT_FILTER, "action": "reject"}, {**new[2], "part": "header"}]
    assert response.json() == {"filters": expected}
    assert client_for(owner).get(FILTERS).json() == {"filters": expected}


def test_put_of_no_filters_removes_them_all(owner, stored):
    assert client_for(owner).put(FILTERS, {"filters": []}, format="json").status_code == 200
    assert not ContentFilter.objects.exists()


def test_a_read_write_key_may_replace_and_a_read_only_key_may_not(owner, stored):
    assert key_client(owner).put(FILTERS, {"filters": []}, format="json").status_code == 200
    assert key_client(owner, scope="read").put(FILTERS, {"filters": []}, format="json").status_code == 403


def test_members_and_moderators_get_403(mlist, member, stored, domain):
    other_lists_moderator = make_moderator(create_list("bee@example.com"), "bee-moderator@example.org")
    for caller in (member, make_moderator(mlist), other_lists_moderator):
        client = client_for(caller)
        assert client.get(FILTERS).status_code == 403
        response = client.put(FILTERS, {"filters": []}, format="json")
        assert response.status_code == 403
        assert "cheap" not in response.content.decode()
    assert ContentFilter.objects.count() == 2


def test_an_owner_of_another_list_gets_403(mlist, stored, domain):
    other = create_list("bee@example.com")
    caller = make_user("bee-owner@example.org")
    subscribe(other, caller.email, role=Role.OWNER)
    assert client_for(caller).get(FILTERS).status_code == 403
    assert client_for(caller).put(FILTERS, {"filters": []}, format="json").status_code == 403
    assert client_for(caller).get(f"{API}/lists/bee.example.com/filters/").status_code == 200
    assert ContentFilter.objects.count() == 2


def test_a_moderator_of_another_list_cannot_see_a_hidden_lists_filters(domain, mlist):
    create_list("secret@example.com", advertised=False)
    caller = make_moderator(mlist)
    assert client_for(caller).get(f"{API}/lists/secret.example.com/filters/").status_code == 404


def test_anonymous_callers_get_401(stored):
    assert client_for().get(FILTERS).status_code == 401
    assert client_for().put(FILTERS, {"filters": []}, format="json").status_code == 401


def test_a_bad_regex_is_a_400_naming_the_filter_and_nothing_changes(owner, stored):
    bad = [BODY_FILTER, {**SUBJECT_FILTER, "pattern": "(unclosed"}]
    response = client_for(owner).put(FILTERS, {"filters": bad}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "filter 2" in body["errors"]
    assert "missing )" in body["message"]
    assert list(ContentFilter.objects.order_by("position").values_list("pattern", flat=True)) == ["cheap", "^buy now$"]


@pytest.mark.parametrize(
    "payload",
    [
        {"filters": [{"part": "header", "header": "Subject", "action": "hold"}]},
        {"filters": [{**SUBJECT_FILTER, "action": "defer"}]},
        {"filters": [{**SUBJECT_FILTER, "color": "red"}]},
        {"filters": [{**SUBJECT_FILTER, "header": "Not a header"}]},
        {"filters": [{**SUBJECT_FILTER, "pattern": "x" * 1001}]},
        {"filters": "Subject ~ cheap"},
        {"filters": [SUBJECT_FILTER] * 201},
        {},
        [SUBJECT_FILTER],
    ],
)
def test_bad_input_is_a_400_and_nothing_changes(owner, stored, payload):
    response = client_for(owner).put(FILTERS, payload, format="json")
    assert response.status_code == 400
    assert response.json()["message"]
    assert ContentFilter.objects.count() == 2


def test_bad_json_is_a_400(owner, stored):
    response = client_for(owner).generic("PUT", FILTERS, b'{"filters": [', content_type="application/json")
    assert response.status_code == 400
    assert ContentFilter.objects.count() == 2
