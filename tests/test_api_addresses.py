from members.models import Address, Membership
from members.services import subscribe, verify_address
from tests.api_callers import API, client_for

ADDRESSES = f"{API}/addresses/"


def test_a_user_sees_only_their_own_addresses(member, stranger):
    response = client_for(member).get(ADDRESSES)
    assert response.status_code == 200
    assert [a["email"] for a in response.json()["results"]] == ["member@example.org"]
    assert response.json()["results"][0]["verified"] is True
    assert client_for(member).get(f"{ADDRESSES}stranger@example.org/").status_code == 404


def test_site_admin_sees_every_address(site_admin, member, stranger):
    emails = {a["email"] for a in client_for(site_admin).get(ADDRESSES).json()["results"]}
    assert emails == {"admin@example.org", "member@example.org", "stranger@example.org"}


def test_anonymous_callers_get_401(member):
    assert client_for().get(ADDRESSES).status_code == 401


def test_a_user_adds_an_unverified_address_for_themselves(stranger):
    response = client_for(stranger).post(ADDRESSES, {"email": "Other@Example.org", "display_name": "Me"})
    assert response.status_code == 201, response.json()
    assert response.json()["email"] == "other@example.org"
    assert response.json()["verified"] is False
    address = Address.objects.get(email="other@example.org")
    assert (address.user, address.original_email) == (stranger, "Other@Example.org")


def test_an_address_of_another_account_cannot_be_added(stranger, member):
    response = client_for(stranger).post(ADDRESSES, {"email": member.email})
    assert response.status_code == 409
    assert Address.objects.get(email=member.email).user == member


def test_an_address_verified_without_an_account_cannot_be_claimed(stranger, mlist):
    verify_address("subscriber@example.org")
    response = client_for(stranger).post(ADDRESSES, {"email": "subscriber@example.org"})
    assert response.status_code == 409
    assert Address.objects.get(email="subscriber@example.org").user is None


def test_refusals_do_not_tell_whether_the_address_has_an_account(stranger, member):
    verify_address("subscriber@example.org")
    has_account = client_for(stranger).post(ADDRESSES, {"email": member.email}).json()["message"]
    no_account = client_for(stranger).post(ADDRESSES, {"email": "subscriber@example.org"}).json()["message"]
    assert has_account.replace(member.email, "X") == no_account.replace("subscriber@example.org", "X")


def test_adding_an_invalid_address_is_400(stranger):
    response = client_for(stranger).post(ADDRESSES, {"email": "nobody@"})
    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_deleting_your_address_takes_it_off_your_account_and_keeps_its_memberships(member, mlist):
    response = client_for(member).delete(f"{ADDRESSES}member@example.org/")
    assert response.status_code == 204
    address = Address.objects.get(email="member@example.org")
    assert address.user is None
    assert address.memberships.count() == 1
    assert client_for(member).get(f"{ADDRESSES}member@example.org/").status_code == 404


def test_deleting_an_address_you_had_claimed_withdraws_the_claim(stranger, mlist):
    subscribe(mlist, "claimed@example.org")
    client_for(stranger).post(ADDRESSES, {"email": "claimed@example.org"})
    assert client_for(stranger).delete(f"{ADDRESSES}claimed@example.org/").status_code == 204
    assert Address.objects.get(email="claimed@example.org").user is None


def test_site_admin_deletes_an_address_with_its_memberships(site_admin, member, mlist):
    assert client_for(site_admin).delete(f"{ADDRESSES}member@example.org/").status_code == 204
    assert not Address.objects.filter(email="member@example.org").exists()
    assert not Membership.objects.filter(mailing_list=mlist, address__email="member@example.org").exists()


def test_a_user_cannot_delete_another_users_address(stranger, member):
    assert client_for(stranger).delete(f"{ADDRESSES}member@example.org/").status_code == 404
    assert Address.objects.filter(email="member@example.org").exists()
