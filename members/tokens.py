"""Confirmation tokens: random, single use, bound to one list, one address
and one action, and expiring after the list's confirmation_expiry_days.

A token is 160 random bits written in lower-case base32 (32 characters).
Lower case because it travels in the local part of `list-confirm+TOKEN@`,
which some MTAs (Exim by default) fold to lower case; a token is therefore
read case-insensitively. Only the SHA-256 of a token is stored: a copy of
the database gives nobody a token they could use.
"""

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from lists.models import MailingList
from members.models import ConfirmationToken

TOKEN_BYTES = 20
TOKEN_PATTERN = re.compile(r"^[a-z2-7]{32}$")


class InvalidToken(Exception):
    """The token is unknown, used, expired, or not for this list or action.

    One error for all of them: which one it was is nobody's business.
    """

    def __init__(self) -> None:
        super().__init__("This confirmation link is not valid: it may have expired or been used already.")


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `token` goes in the mail and nowhere else; `row` is what is stored."""

    token: str
    row: ConfirmationToken


def digest(token: str) -> str:
    return hashlib.sha256(token.strip().lower().encode("ascii", "replace")).hexdigest()


def issue(
    mlist: MailingList,
    email: str,
    action: str,
    data: dict[str, Any] | None = None,
    *,
    valid_for: timedelta | None = None,
    only_latest: bool = True,
) -> IssuedToken:
    """A new token for `action` by `email` on `mlist`, valid for `valid_for`
    (default: the list's confirmation_expiry_days).

    With `only_latest`, any earlier unused token for the same list, address
    and action stops working: only the most recent confirmation mail counts.
    (A held post's token is one of many for the same sender, and keeps them.)
    """
    token = base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").lower()
    now = timezone.now()
    with transaction.atomic():
        if only_latest:
            earlier = ConfirmationToken.objects.filter(mailing_list=mlist, email=email, action=action)
            earlier.filter(used_at__isnull=True).delete()
        row = ConfirmationToken.objects.create(
            digest=digest(token),
            mailing_list=mlist,
            email=email,
            action=action,
            data=data or {},
            expires_at=now + (valid_for or timedelta(days=mlist.confirmation_expiry_days)),
        )
    return IssuedToken(token, row)


def looks_like_token(text: str) -> bool:
    return TOKEN_PATTERN.match(text.strip().lower()) is not None


@transaction.atomic
def consume(
    token: str, *, mlist: MailingList | None = None, actions: tuple[str, ...] | None = None
) -> ConfirmationToken:
    """Use `token` up, once: the pending confirmation it stands for.

    Marked used with one conditional UPDATE, so of two requests with the
    same token only one gets it, on any database. Raises InvalidToken when
    it is malformed, unknown, used, expired, for another list than `mlist`
    or for an action not in `actions`. Call it inside the transaction that
    acts on the confirmation, so that a failure leaves the token usable.
    """
    if not looks_like_token(token):
        raise InvalidToken
    now = timezone.now()
    pending = ConfirmationToken.objects.filter(digest=digest(token), used_at__isnull=True, expires_at__gt=now)
    if mlist is not None:
        pending = pending.filter(mailing_list=mlist)
    if actions is not None:
        pending = pending.filter(action__in=actions)
    if not pending.update(used_at=now):
        raise InvalidToken
    return ConfirmationToken.objects.select_related("mailing_list__domain").get(digest=digest(token))


def pending_for(mlist: MailingList, email: str, action: str) -> ConfirmationToken | None:
    """The live token for this list, address and action, if there is one."""
    return ConfirmationToken.objects.filter(
        mailing_list=mlist, email=email, action=action, used_at__isnull=True, expires_at__gt=timezone.now()
    ).first()


def purge() -> int:
    """Delete used and expired tokens; how many. For a periodic job."""
    deleted, _ = ConfirmationToken.objects.filter(expires_at__lte=timezone.now()).delete()
    used, _ = ConfirmationToken.objects.filter(used_at__isnull=False).delete()
    return deleted + used
