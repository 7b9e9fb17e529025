"""Clients that call the API as a given person, through real authentication."""

from rest_framework.test import APIClient

from api.keys import create_api_key
from lists.models import MailingList
from members.models import Role
from members.services import subscribe
from tests.conftest import make_user

API = "/api/v3"


def client_for(user=None) -> APIClient:
    """A client with `user`'s session cookie (anonymous when None)."""
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def key_client(user, scope: str = "read-write") -> APIClient:
    _key, plaintext = create_api_key(user, name="test", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
    return client


def make_moderator(mlist: MailingList, email: str = "moderator@example.org"):
    user = make_user(email)
    subscribe(mlist, email, role=Role.MODERATOR)
    return user
