import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from api.keys import create_api_key, revoke_key
from api.models import ApiKey
from lists.models import MailingList
from tests.api_callers import API, key_client

KEY = re.compile(r"mlk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def client_with_key(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
    return client


def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(member):
    key, plaintext = create_api_key(member, name="backup script", scope="read")
    assert KEY.fullmatch(plaintext)
    assert plaintext.startswith(key.prefix) and len(key.prefix) == len("mlk_") + 8
    secret = plaintext[len(key.prefix) + 1 :]
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    for value in row.values():
        assert plaintext not in str(value)
        assert secret not in str(value)


def test_a_key_acts_as_its_user(member, mlist):
    response = key_client(member, "read").get(f"{API}/members/")
    assert response.status_code == 200
    assert [m["email"] for m in response.json()["results"]] == ["member@example.org"]


def test_read_only_key_cannot_create_lists(site_admin, domain):
    response = key_client(site_admin, "read").post(f"{API}/lists/", {"fqdn_listname": "bee@example.com"})
    assert response.status_code == 403
    assert response.json() == {"message": "This API key is read-only."}
    assert not MailingList.objects.filter(list_name="bee").exists()


def test_read_write_key_of_a_site_admin_creates_lists(site_admin, domain):
    response = key_client(site_admin, "read-write").post(f"{API}/lists/", {"fqdn_listname": "bee@example.com"})
    assert response.status_code == 201


def test_a_key_has_no_more_power_than_its_user(owner, domain):
    response = key_client(owner, "read-write").post(f"{API}/lists/", {"fqdn_listname": "bee@example.com"})
    assert response.status_code == 403


def test_revoked_key_is_401(member):
    key, plaintext = create_api_key(member, name="old")
    revoke_key(key)
    response = client_with_key(plaintext).get(f"{API}/members/")
    assert response.status_code == 401
    assert response.json() == {"message": "This API key has been revoked."}
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize("header", ["Api-Key mlk_00000000_nope", "Api-Key", "Api-Key a b", "Api-Key " + "x" * 5000])
def test_unknown_or_malformed_key_is_401(member, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(f"{API}/members/").status_code == 401


def test_a_right_prefix_with_a_wrong_secret_is_401(member):
    key, plaintext = create_api_key(member, name="real")
    forged = plaintext[: len(key.prefix) + 1] + "A" * 43
    assert client_with_key(forged).get(f"{API}/members/").status_code == 401


def test_key_of_an_inactive_user_is_401(member):
    _key, plaintext = create_api_key(member, name="x")
    member.is_active = False
    member.save()
    assert client_with_key(plaintext).get(f"{API}/members/").status_code == 401


def test_use_of_a_key_is_recorded(member):
    key, plaintext = create_api_key(member, name="x")
    assert key.last_used_at is None
    client_with_key(plaintext).get(f"{API}/members/")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_create_api_key_command_prints_a_working_key_once(site_admin, domain):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", user="admin@example.org", scope="read-write", name="cron", stdout=out, stderr=err)
    plaintext = out.getvalue().strip()
    assert KEY.fullmatch(plaintext)
    assert plaintext not in err.getvalue()
    key = ApiKey.objects.get(name="cron")
    assert (key.user, key.scope) == (site_admin, "read-write")
    assert client_with_key(plaintext).post(f"{API}/lists/", {"fqdn_listname": "bee@example.com"}).status_code == 201


def test_create_api_key_command_finds_users_by_username_and_defaults_to_read(member):
    out = io.StringIO()
    call_command("create_api_key", user=member.username, stdout=out, stderr=io.StringIO())
    assert ApiKey.objects.get().scope == "read"


def test_create_api_key_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError):
        call_command("create_api_key", user="nobody@example.org", stdout=io.StringIO(), stderr=io.StringIO())


def test_admin_add_form_shows_the_key_once(site_admin, member):
    browser = Client()
    browser.force_login(site_admin)
    response = browser.post("/admin/api/apikey/add/", {"name": "from admin", "user": member.pk, "scope": "read"})
    assert response.status_code == 200
    shown = KEY.findall(response.content.decode())
    assert shown and len(set(shown)) == 1
    key = ApiKey.objects.get(name="from admin")
    assert client_with_key(shown[0]).get(f"{API}/members/").status_code == 200
    change_page = browser.get(f"/admin/api/apikey/{key.pk}/change/").content.decode()
    assert key.prefix in change_page
    assert shown[0] not in change_page
    assert shown[0] not in browser.get("/admin/api/apikey/").content.decode()


def test_admin_action_revokes_keys(site_admin, member):
    key, plaintext = create_api_key(member, name="x")
    browser = Client()
    browser.force_login(site_admin)
    browser.post("/admin/api/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.is_revoked
    assert client_with_key(plaintext).get(f"{API}/members/").status_code == 401
