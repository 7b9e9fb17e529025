"""OAuth 2 tokens are obtained over HTTP from /o/, as a client would."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from oauth2_provider.models import Application
from rest_framework.test import APIClient

from lists.models import MailingList
from members.models import Membership, Role
from tests.api_callers import API

CLIENT_SECRET = "client-secret-for-tests"
REDIRECT_URI = "https://client.example/callback"


def client_credentials_app(owner) -> Application:
    return Application.objects.create(
        name="sync job",
        user=owner,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=CLIENT_SECRET,
    )


def client_credentials_token(app: Application, scope: str) -> str:
    basic = base64.b64encode(f"{app.client_id}:{CLIENT_SECRET}".encode()).decode()
    response = Client().post(
        "/o/token/", {"grant_type": "client_credentials", "scope": scope}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def authorization_code_token(user, scope: str) -> str:
    """Authorization code with PKCE (RFC 7636, S256), consented to by a signed-in `user`."""
    app = Application.objects.create(
        name="mail client",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
    )
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    browser = Client()
    browser.force_login(user)
    assert browser.get("/o/authorize/", params).status_code == 200  # the consent page
    consent = browser.post("/o/authorize/", {**params, "allow": "Authorize"})
    assert consent.status_code == 302
    redirect = urlsplit(consent["Location"])
    assert f"{redirect.scheme}://{redirect.netloc}{redirect.path}" == REDIRECT_URI
    query = parse_qs(redirect.query)
    assert query["state"] == ["xyz"]
    response = Client().post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT_URI,
            "client_id": app.client_id,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_client_credentials_token_of_an_admin_app_acts_as_the_admin(site_admin, domain):
    token = client_credentials_token(client_credentials_app(site_admin), "read write")
    response = bearer(token).post(f"{API}/lists/", {"fqdn_listname": "bee@example.com"})
    assert response.status_code == 201
    assert MailingList.objects.filter(list_name="bee").exists()


def test_client_credentials_token_with_read_scope_cannot_write(site_admin, domain):
    token = client_credentials_token(client_credentials_app(site_admin), "read")
    client = bearer(token)
    assert client.get(f"{API}/domains/").status_code == 200
    response = client.post(f"{API}/lists/", {"fqdn_listname": "bee@example.com"})
    assert response.status_code == 403
    assert response.json() == {"message": "This token lacks the write scope."}


def test_client_credentials_token_of_a_users_app_has_only_that_users_rights(member, mlist):
    token = client_credentials_token(client_credentials_app(member), "read write")
    client = bearer(token)
    assert [m["email"] for m in client.get(f"{API}/members/").json()["results"]] == ["member@example.org"]
    assert client.get(f"{API}/lists/ant.example.com/members/").status_code == 403


def test_authorization_code_token_acts_as_the_consenting_user(owner, mlist):
    token = authorization_code_token(owner, "read")
    response = bearer(token).get(f"{API}/lists/ant.example.com/config/")
    assert response.status_code == 200
    assert response.json()["subscription_policy"] == "confirm"


def test_authorization_code_token_with_read_scope_cannot_write(member, mlist):
    membership = Membership.objects.get(address__email=member.email, role=Role.MEMBER)
    token = authorization_code_token(member, "read")
    response = bearer(token).patch(f"{API}/members/{membership.pk}/", {"delivery_status": "by_user"})
    assert response.status_code == 403


def test_authorization_code_token_with_write_scope_changes_own_membership(member, mlist):
    membership = Membership.objects.get(address__email=member.email, role=Role.MEMBER)
    token = authorization_code_token(member, "read write")
    response = bearer(token).patch(f"{API}/members/{membership.pk}/", {"delivery_status": "by_user"})
    assert response.status_code == 200
    membership.refresh_from_db()
    assert membership.delivery_status == "by_user"


def test_authorization_requires_pkce(member):
    app = Application.objects.create(
        name="no pkce",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
    )
    browser = Client()
    browser.force_login(member)
    response = browser.get(
        "/o/authorize/",
        {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT_URI, "scope": "read"},
    )
    assert response.status_code == 302
    assert "error=invalid_request" in response["Location"]


@pytest.mark.parametrize("token", ["not-a-token", ""])
def test_unknown_bearer_token_is_401(member, token):
    assert bearer(token).get(f"{API}/members/").status_code == 401


def test_client_credentials_token_of_an_ownerless_app_is_refused(domain):
    token = client_credentials_token(client_credentials_app(None), "read")
    response = bearer(token).get(f"{API}/domains/")
    assert response.status_code == 401
    assert "no active owner" in response.json()["message"]
