import pytest
from django.contrib.auth.hashers import check_password
from rest_framework.test import APIClient

from lists.models import MailingList
from lists.services import create_list
from members.models import Membership, Role
from members.services import subscribe
from tests.api_callers import API, client_for, make_moderator


@pytest.fixture
def hidden_list(domain) -> MailingList:
    return create_list("secret@example.com", advertised=False)


def test_anonymous_index_shows_advertised_lists_with_public_fields_only(mlist, hidden_list):
    response = client_for().get(f"{API}/lists/")
    assert response.status_code == 200
    assert response.json()["count"] == 1
    entry = response.json()["results"][0]
    assert entry["list_id"] == "ant.example.com"
    assert set(entry) == {"list_id", "fqdn_listname", "list_name", "mail_host", "display_name", "description"}


def test_anonymous_callers_get_401_for_everything_but_the_index(mlist):
    client = client_for()
    assert client.get(f"{API}/lists/ant.example.com/").status_code == 401
    assert client.get(f"{API}/lists/ant.example.com/config/").status_code == 401
    assert client.post(f"{API}/lists/", {"fqdn_listname": "bee@example.com"}).status_code == 401
    assert client.delete(f"{API}/lists/ant.example.com/").status_code == 401


def test_list_is_found_by_list_id_and_by_posting_address(mlist, member):
    client = client_for(member)
    for ref in ("ant.example.com", "ant@example.com", "Ant@Example.COM"):
        response = client.get(f"{API}/lists/{ref}/")
        assert response.status_code == 200, ref
        assert response.json()["fqdn_listname"] == "ant@example.com"


def test_list_id_resolves_when_the_list_name_has_a_dot(site_admin, domain):
    create_list("ant.hill@example.com")
    response = client_for(site_admin).get(f"{API}/lists/ant.hill.example.com/")
    assert response.json()["fqdn_listname"] == "ant.hill@example.com"


def test_unknown_list_is_a_json_404(stranger):
    response = client_for(stranger).get(f"{API}/lists/nope.example.com/")
    assert response.status_code == 404
    assert response.json() == {"message": "No such list: nope.example.com"}


def test_unadvertised_list_is_hidden_from_strangers_but_not_from_its_members(hidden_list, stranger, member):
    assert client_for(stranger).get(f"{API}/lists/secret.example.com/").status_code == 404
    assert "secret.example.com" not in str(client_for(stranger).get(f"{API}/lists/").json())
    subscribe(hidden_list, member.email)
    assert client_for(member).get(f"{API}/lists/secret.example.com/").status_code == 200


def test_site_admin_sees_every_list(site_admin, mlist, hidden_list):
    assert client_for(site_admin).get(f"{API}/lists/").json()["count"] == 2


def test_site_admin_creates_a_list_with_settings_and_owners(site_admin, domain):
    response = client_for(site_admin).post(
        f"{API}/lists/",
        {
            "fqdn_listname": "bee@example.com",
            "owners": ["queen@example.org"],
            "settings": {"description": "Bees", "advertised": False},
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["list_id"] == "bee.example.com"
    bee = MailingList.objects.get(list_name="bee")
    assert (bee.description, bee.advertised) == ("Bees", False)
    assert Membership.objects.filter(mailing_list=bee, role=Role.OWNER, address__email="queen@example.org").exists()


@pytest.mark.parametrize("who", ["owner", "member", "stranger"])
def test_only_site_admins_create_lists(request, who, domain):
    response = client_for(request.getfixturevalue(who)).post(f"{API}/lists/", {"fqdn_listname": "bee@example.com"})
    assert response.status_code == 403
    assert response.json()["message"]
    assert not MailingList.objects.filter(list_name="bee").exists()


def test_creating_an_existing_list_is_409(site_admin, mlist):
    response = client_for(site_admin).post(f"{API}/lists/", {"fqdn_listname": "ant@example.com"})
    assert response.status_code == 409
    assert "already exists" in response.json()["message"]


def test_creating_a_list_in_an_unknown_domain_is_400(site_admin, domain):
    response = client_for(site_admin).post(f"{API}/lists/", {"fqdn_listname": "bee@nowhere.example"})
    assert response.status_code == 400
    assert "nowhere.example" in response.json()["message"]


def test_creating_a_list_without_a_name_says_which_field_is_missing(site_admin, domain):
    response = client_for(site_admin).post(f"{API}/lists/", {"owners": []})
    assert response.status_code == 400
    assert "fqdn_listname" in response.json()["message"]
    assert response.json()["errors"]["fqdn_listname"] == ["This field is required."]


@pytest.mark.parametrize("name", ["noat", "bee-request@example.com", "a b@example.com"])
def test_invalid_list_names_are_400(site_admin, domain, name):
    response = client_for(site_admin).post(f"{API}/lists/", {"fqdn_listname": name})
    assert response.status_code == 400
    assert response.json()["message"]


def test_creating_a_list_with_an_invalid_owner_address_creates_nothing(site_admin, domain):
    response = client_for(site_admin).post(f"{API}/lists/", {"fqdn_listname": "bee@example.com", "owners": ["x@"]})
    assert response.status_code == 400
    assert "owners" in response.json()["errors"]
    assert not MailingList.objects.filter(list_name="bee").exists()


def test_owner_reads_every_configurable_setting_but_not_the_moderator_password(owner, mlist):
    response = client_for(owner).get(f"{API}/lists/ant.example.com/config/")
    assert response.status_code == 200
    config = response.json()
    assert config["subscription_policy"] == "confirm"
    assert config["max_message_size"] == 40
    assert "moderator_password" not in config


def test_owner_changes_settings_and_the_moderator_password_is_stored_hashed(owner, mlist):
    response = client_for(owner).patch(
        f"{API}/lists/ant@example.com/config/",
        {"subscription_policy": "moderate", "max_message_size": 100, "moderator_password": "s3cret"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["subscription_policy"] == "moderate"
    assert "moderator_password" not in response.json()
    mlist.refresh_from_db()
    assert (mlist.subscription_policy, mlist.max_message_size) == ("moderate", 100)
    assert mlist.moderator_password != "s3cret" and check_password("s3cret", mlist.moderator_password)


def test_config_changes_are_all_or_nothing(owner, mlist):
    response = client_for(owner).patch(
        f"{API}/lists/ant.example.com/config/", {"description": "Changed", "subscription_policy": "anyone"}
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["subscription_policy"]
    mlist.refresh_from_db()
    assert mlist.description == "Ants and their friends"


def test_unknown_and_read_only_settings_are_refused(owner, mlist):
    response = client_for(owner).patch(f"{API}/lists/ant.example.com/config/", {"list_name": "bee", "colour": 1})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"list_name", "colour"}


@pytest.mark.parametrize("who", ["member", "stranger"])
def test_members_and_strangers_cannot_read_or_change_config(request, who, mlist):
    client = client_for(request.getfixturevalue(who))
    assert client.get(f"{API}/lists/ant.example.com/config/").status_code == 403
    assert client.patch(f"{API}/lists/ant.example.com/config/", {"emergency": True}).status_code == 403


def test_moderators_cannot_read_config(mlist):
    client = client_for(make_moderator(mlist))
    assert client.get(f"{API}/lists/ant.example.com/config/").status_code == 403


def test_owner_of_another_list_cannot_configure_this_one(owner, domain):
    other = create_list("bee@example.com")
    response = client_for(owner).patch(f"{API}/lists/bee.example.com/config/", {"emergency": True})
    assert response.status_code == 403
    other.refresh_from_db()
    assert not other.emergency


def test_owner_deletes_their_list(owner, mlist):
    response = client_for(owner).delete(f"{API}/lists/ant.example.com/")
    assert response.status_code == 204
    assert not MailingList.objects.filter(pk=mlist.pk).exists()


def test_member_cannot_delete_the_list(member, mlist):
    assert client_for(member).delete(f"{API}/lists/ant.example.com/").status_code == 403
    assert MailingList.objects.filter(pk=mlist.pk).exists()


def test_session_writes_need_the_csrf_token(site_admin, domain):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(site_admin)
    response = client.post(f"{API}/lists/", {"fqdn_listname": "bee@example.com"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
