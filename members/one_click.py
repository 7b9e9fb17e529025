"""RFC 8058 one-click unsubscription: a signed token per member and list.

The token carries the member's address and is signed with the site's
SECRET_KEY under a salt that includes the list id, so a token made for one
list is worthless on another and nobody can make one for an address without
the key. It does not expire: an unsubscribe link in an old post keeps working.
"""

from django.conf import settings
from django.core import signing

SALT = "members.one_click"


class InvalidOneClickToken(Exception):
    """The token was not made by this site for this list (tampered, truncated
    or for another list)."""


def _salt(list_id: str) -> str:
    return f"{SALT}:{list_id}"


def make_token(list_id: str, email: str) -> str:
    """A URL-safe token that names `email` on the list `list_id`."""
    return signing.Signer(salt=_salt(list_id)).sign_object(email)


def read_token(list_id: str, token: str) -> str:
    """The address `token` was made for; InvalidOneClickToken unless it was
    made by make_token() for this same list."""
    try:
        email = signing.Signer(salt=_salt(list_id)).unsign_object(token)
    except signing.BadSignature as exc:
        raise InvalidOneClickToken(f"not a valid one-click token for {list_id}") from exc
    if not isinstance(email, str):
        raise InvalidOneClickToken(f"not a valid one-click token for {list_id}")
    return email


def one_click_url(list_id: str, email: str) -> str:
    """The HTTPS URL of List-Unsubscribe (RFC 8058 section 3.1) for one member."""
    return f"{settings.SITE_URL}/lists/{list_id}/unsubscribe/one-click/{make_token(list_id, email)}/"
