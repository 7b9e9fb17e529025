"""/lists/{list_id}/members/mass-subscribe/ and mass-unsubscribe/: owners
add or remove many addresses at once, with or without welcome and goodbye."""

import pytest

from lists.services import configure_list, create_list
from mailman_site import events
from members.models import Membership
from members.services import ban, subscribe
from tests.api_callers import API, client_for, key_client, make_moderator

pytest_plugins = ["tests.mail_fixtures", "tests.workflow_fixtures"]

MASS_SUBSCRIBE = f"{API}/lists/ant.example.com/members/mass-subscribe/"
MASS_UNSUBSCRIBE = f"{API}/lists/ant.example.com/members/mass-unsubscribe/"


def members(mlist) -> list[str]:
    return sorted(Membership.objects.filter(mailing_list=mlist, role="member").values_list("address__email", flat=True))


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what requests leave for after their commit (welcome and goodbye mails, events)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.mark.parametrize("role", ["owner", "site_admin"])
def test_owners_and_site_admins_subscribe_many_and_each_is_welcomed(request, role, mlist, smtp_sink, on_commit):
    subscribe(mlist, "old@example.net")
    ban(mlist, "eve@example.net")
    with on_commit():
        response = client_for(request.getfixturevalue(role)).post(
            MASS_SUBSCRIBE,
            {"emails": ["Ann <ann@example.net>", "bob@example.net Bob", "old@example.net", "Eve@example.net"]},
        )
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "added": ["ann@example.net", "bob@example.net"],
        "unchanged": ["old@example.net"],
        "banned": ["eve@example.net"],
        "invalid": [],
    }
    assert members(mlist) == ["ann@example.net", "bob@example.net", "old@example.net"]
    assert sorted(smtp_sink.recipients()) == ["ann@example.net", "bob@example.net"]


def test_mass_subscribe_can_be_quiet(owner, mlist, smtp_sink, on_commit):
    with on_commit():
        response = client_for(owner).post(MASS_SUBSCRIBE, {"emails": ["ann@example.net"], "send_welcome": False})
    assert response.json()["added"] == ["ann@example.net"]
    assert not smtp_sink.received


def test_one_invalid_entry_stops_all_and_is_named_by_its_index(owner, mlist):
    response = client_for(owner).post(MASS_SUBSCRIBE, {"emails": ["ann@example.net", "not-an-address"]})
    assert response.status_code == 400
    assert response.json()["errors"] == {"emails": {"1": ["not a valid email address"]}}
    assert members(mlist) == []


def test_invalid_entries_can_be_skipped_and_are_reported(owner, mlist, smtp_sink):
    body = {"emails": ["ann@example.net", "bad\nline@example.net"], "skip_invalid": True}
    response = client_for(owner).post(MASS_SUBSCRIBE, body)
    assert response.status_code == 200
    assert response.json()["added"] == ["ann@example.net"]
    [invalid] = response.json()["invalid"]
    assert (invalid["index"], invalid["reason"]) == (1, "contains control characters")
    assert members(mlist) == ["ann@example.net"]


def test_owner_unsubscribes_many_with_a_goodbye(owner, mlist, smtp_sink, on_commit):
    for email in ("ann@example.net", "bob@example.net", "cat@example.net"):
        subscribe(mlist, email)
    with on_commit():
        response = client_for(owner).post(
            MASS_UNSUBSCRIBE, {"emails": ["ann@example.net", "BOB@example.net", "x@example.net"]}
        )
    assert response.status_code == 200
    assert response.json() == {
        "removed": ["ann@example.net", "bob@example.net"],
        "unchanged": ["x@example.net"],
        "invalid": [],
    }
    assert members(mlist) == ["cat@example.net"]
    assert sorted(smtp_sink.recipients()) == ["ann@example.net", "bob@example.net"]


def test_mass_unsubscribe_can_be_quiet(owner, mlist, smtp_sink, on_commit):
    subscribe(mlist, "ann@example.net")
    with on_commit():
        client_for(owner).post(MASS_UNSUBSCRIBE, {"emails": ["ann@example.net"], "send_goodbye": False})
    assert members(mlist) == []
    assert not smtp_sink.received


def test_owners_and_moderators_are_left_alone(owner, mlist):
    response = client_for(owner).post(MASS_UNSUBSCRIBE, {"emails": [owner.email]})
    assert response.json()["unchanged"] == [owner.email]
    assert Membership.objects.filter(address__email=owner.email, role="owner").exists()


def test_events_name_every_address_once_and_only_when_something_changed(owner, mlist, smtp_sink, on_commit):
    added, removed = [], []
    events.member_added.connect(lambda **kw: added.append(kw["emails"]), weak=False, dispatch_uid="m1")
    events.member_removed.connect(lambda **kw: removed.append(kw["emails"]), weak=False, dispatch_uid="m2")
    client = client_for(owner)
    try:
        with on_commit():
            client.post(MASS_SUBSCRIBE, {"emails": ["ann@example.net", "bob@example.net"]})
            client.post(MASS_SUBSCRIBE, {"emails": ["ann@example.net"]})
            client.post(MASS_UNSUBSCRIBE, {"emails": ["ann@example.net", "nobody@example.net"]})
            client.post(MASS_UNSUBSCRIBE, {"emails": ["nobody@example.net"]})
    finally:
        events.member_added.disconnect(dispatch_uid="m1")
        events.member_removed.disconnect(dispatch_uid="m2")
    assert added == [["ann@example.net", "bob@example.net"]]
    assert removed == [["ann@example.net"]]


@pytest.mark.parametrize("role", ["member", "stranger"])
def test_moderators_members_and_strangers_get_403(request, mlist, role):
    subscribe(mlist, "ann@example.net")
    callers = [make_moderator(mlist), request.getfixturevalue(role)]
    before = members(mlist)
    for caller in callers:
        client = client_for(caller)
        assert client.post(MASS_SUBSCRIBE, {"emails": ["bob@example.net"]}).status_code == 403
        assert client.post(MASS_UNSUBSCRIBE, {"emails": ["ann@example.net"]}).status_code == 403
    assert members(mlist) == before


def test_anonymous_callers_get_401(mlist):
    assert client_for().post(MASS_SUBSCRIBE, {"emails": ["bob@example.net"]}).status_code == 401


def test_a_hidden_list_is_not_found_by_strangers(stranger, domain):
    create_list("secret@example.com", advertised=False)
    url = f"{API}/lists/secret.example.com/members/mass-subscribe/"
    assert client_for(stranger).post(url, {"emails": ["bob@example.net"]}).status_code == 404


def test_a_read_only_key_cannot_change_the_roster(owner, mlist):
    response = key_client(owner, scope="read").post(MASS_SUBSCRIBE, {"emails": ["bob@example.net"]})
    assert response.status_code == 403
    assert members(mlist) == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "emails"),
        ({"emails": []}, "emails"),
        ({"emails": "ann@example.net"}, "emails"),
        ({"emails": [None]}, "emails"),
        ({"emails": [{"email": "ann@example.net"}]}, "emails"),
        ({"emails": ["# a comment"]}, "emails"),
        ({"emails": [""]}, "emails"),
        ({"emails": ["x" * 513]}, "emails"),
        ({"emails": ["ann@example.net"] * 5001}, "emails"),
        ({"emails": ["ann@example.net"], "role": "owner"}, "role"),
        ({"emails": ["ann@example.net"], "send_welcome": "perhaps"}, "send_welcome"),
    ],
)
def test_bad_bodies_are_400_naming_the_field_and_change_nothing(owner, mlist, body, field):
    response = client_for(owner).post(MASS_SUBSCRIBE, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert members(mlist) == []


def test_malformed_json_is_400(owner, mlist):
    response = client_for(owner).post(MASS_UNSUBSCRIBE, b"\xff\xfe", content_type="application/json")
    assert response.status_code == 400


def test_a_list_that_sends_no_welcome_sends_none(owner, mlist, smtp_sink, on_commit):
    configure_list(mlist, send_welcome_message=False)
    with on_commit():
        client_for(owner).post(MASS_SUBSCRIBE, {"emails": ["ann@example.net"]})
    assert not smtp_sink.received
