"""Bad and hostile input is a 400 (or 404) with a JSON message, never a 500."""

import pytest

from lists.models import MailingList
from tests.api_callers import API, client_for

CONFIG = f"{API}/lists/ant.example.com/config/"


@pytest.fixture
def admin(site_admin, mlist):
    return client_for(site_admin)


def test_bad_json_is_400_with_a_message(admin):
    response = admin.generic("POST", f"{API}/lists/", '{"fqdn_listname": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("JSON parse error")


def test_a_body_that_is_not_json_is_415(admin):
    response = admin.generic("POST", f"{API}/lists/", "fqdn_listname=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["message"]


@pytest.mark.parametrize("body", [[], ["fqdn_listname"], "bee@example.com", 42, None])
def test_a_body_that_is_not_an_object_is_400(admin, body):
    response = admin.post(f"{API}/lists/", body)
    assert response.status_code == 400
    assert response.json()["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"description": "x" * 1_000_000},
        {"info": "x" * 200_000},
        {"display_name": "nul\x00byte"},
        {"max_message_size": -1},
        {"max_message_size": 10**30},
        {"max_message_size": "lots"},
        {"advertised": "maybe"},
        {"advertised": {"nested": True}},
        {"reply_to_address": "not-an-address"},
        {"subscription_policy": ["open"]},
    ],
)
def test_hostile_settings_are_400_and_change_nothing(admin, mlist, change):
    response = admin.patch(CONFIG, change)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == list(change)
    assert MailingList.objects.get(pk=mlist.pk).description == mlist.description


def test_an_unpaired_surrogate_is_400(admin):
    response = admin.generic("PATCH", CONFIG, b'{"description": "\\ud800"}', content_type="application/json")
    assert response.status_code == 400
    assert "surrogate" in response.json()["message"]


@pytest.mark.parametrize("path", ["lists/a%00b.example.com/", "domains/x%00y/", "addresses/a%00@b.c/", "members/99/"])
def test_lookups_that_match_nothing_are_json_404s(admin, path):
    response = admin.get(f"{API}/{path}")
    assert response.status_code == 404
    assert response.json()["message"]


@pytest.mark.parametrize("query", [{"address": "a\x00b"}, {"address": "a" * 1000}, {"role": ["owner", "x"]}])
def test_hostile_filters_are_400(admin, query):
    assert admin.get(f"{API}/members/", query).status_code == 400


@pytest.mark.parametrize("offset", [str(10**30), "-5", "lots"])
def test_any_offset_is_answered(admin, offset):
    response = admin.get(f"{API}/lists/", {"offset": offset, "limit": 10**30})
    assert response.status_code == 200


def test_a_method_not_allowed_is_a_json_405(admin):
    response = admin.put(f"{API}/lists/ant.example.com/", {})
    assert response.status_code == 405
    assert response.json()["message"]
