"""Where accounts meet addresses.

An email address that a person proves to own, by following allauth's
confirmation link, becomes a verified Address linked to their account; an
Address that existed before (an owner subscribed it, say) is linked as it is,
so its memberships become theirs. Unconfirmed emails never become verified.
"""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext

from members.services import verify_address

# Hashers and password validators read the whole password: bound the work
# one form post can cause (Django's own limit was this, CVE-2013-1443).
MAX_PASSWORD_LENGTH = 4096


class AccountAdapter(DefaultAccountAdapter):
    def clean_password(self, password: str, user: AbstractBaseUser | None = None) -> str:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise ValidationError(
                gettext("Use a password of at most %(max)d characters.") % {"max": MAX_PASSWORD_LENGTH}
            )
        return super().clean_password(password, user)


def link_confirmed_email(sender: Any, request: HttpRequest | None, email_address: Any, **kwargs: Any) -> None:
    """Receiver of allauth's email_confirmed: verify the Address and link it to the account."""
    verify_address(email_address.email, email_address.user)


def unlink_removed_email(
    sender: Any, request: HttpRequest | None, user: Any, email_address: Any, **kwargs: Any
) -> None:
    """Receiver of allauth's email_removed: the account lets go of that Address."""
    from members.models import Address
    from members.services import unlink_address

    address = Address.objects.filter(email=email_address.email.lower(), user=user).first()
    if address is not None:
        unlink_address(address)
