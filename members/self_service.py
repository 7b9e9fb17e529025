"""What a signed-in person may do with their own memberships ("my
subscriptions"): see them, set their delivery and preferences, and leave.

Their own memberships are those of the addresses they verified
(api.permissions.own_addresses): an unverified link proves nothing.
"""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from api.permissions import own_addresses
from lists.models import MailingList
from members.models import Address, DeliveryMode, DeliveryStatus, Membership, Role
from members.services import PREFERENCES, InvalidMembershipChange, update_membership
from members.workflows import WorkflowResult, request_unsubscription

DIGEST_MODES = (DeliveryMode.PLAINTEXT_DIGESTS, DeliveryMode.MIME_DIGESTS)
# Mail stopped by a moderator stays stopped until an owner lifts it; mail
# stopped by bounces the member may turn on again (as in Mailman).
MEMBER_CANNOT_ENABLE = (DeliveryStatus.BY_MODERATOR,)
# What a member may set their delivery status to.
MEMBER_STATUSES = (DeliveryStatus.ENABLED, DeliveryStatus.BY_USER)


def own_memberships(user: AbstractBaseUser, roles: tuple[str, ...] = (Role.MEMBER,)) -> QuerySet[Membership]:
    """`user`'s memberships with one of `roles`, through their verified addresses."""
    return (
        Membership.objects.filter(address__in=own_addresses(user), role__in=roles)
        .select_related("address", "mailing_list__domain")
        .order_by("mailing_list__domain__mail_host", "mailing_list__list_name", "address__email", "role")
    )


def unverified_addresses(user: AbstractBaseUser) -> QuerySet[Address]:
    """Addresses linked to `user` but not verified: their memberships are not theirs to manage yet."""
    return Address.objects.filter(user=user.pk, verified_at__isnull=True).order_by("email")


def member_delivery_modes(mlist: MailingList) -> tuple[str, ...]:
    """The delivery modes a member may choose on `mlist`: digests only where it has them."""
    return (DeliveryMode.REGULAR, *DIGEST_MODES) if mlist.digestable else (DeliveryMode.REGULAR,)


def update_own_membership(
    membership: Membership, *, delivery_mode: str, no_mail: bool, **preferences: bool
) -> Membership:
    """Apply a member's own choices: delivery mode, no-mail and the yes/no
    PREFERENCES. Only what changed is saved (and announced).

    Raises InvalidMembershipChange for a mode the list does not offer, mail
    a moderator stopped, or an unknown preference.
    """
    status = _wanted_status(membership.delivery_status, no_mail)
    wanted = {"delivery_mode": delivery_mode, "delivery_status": status, **preferences}
    changes = {name: value for name, value in wanted.items() if getattr(membership, name, None) != value}
    if errors := own_change_errors(membership, changes):
        # The page's field for the delivery status is the no-mail box.
        if "delivery_status" in errors:
            errors["no_mail"] = errors.pop("delivery_status")
        raise InvalidMembershipChange(errors)
    return update_membership(membership, **changes) if changes else membership


def own_change_errors(membership: Membership, changes: Mapping[str, Any]) -> dict[str, list[str]]:
    """Why a member may not make `changes` to their own membership, by
    field; empty when they may. The one rule for the page and the API."""
    errors: dict[str, list[str]] = {}
    mode = changes.get("delivery_mode", membership.delivery_mode)
    if mode != membership.delivery_mode and mode not in member_delivery_modes(membership.mailing_list):
        errors["delivery_mode"] = ["This list does not offer that delivery mode."]
    status = changes.get("delivery_status", membership.delivery_status)
    if status != membership.delivery_status:
        if membership.delivery_status in MEMBER_CANNOT_ENABLE:
            errors["delivery_status"] = ["A moderator stopped your mail from this list; ask the list owners."]
        elif status not in MEMBER_STATUSES:
            errors["delivery_status"] = ["Members may only turn their own mail on or off."]
    for name in sorted(set(changes) - {"delivery_mode", "delivery_status"} - PREFERENCES):
        errors[name] = ["Members may not change this."]
    return errors


def leave(membership: Membership, client_ip: str = "") -> WorkflowResult:
    """Take `membership`'s address off its list now, with the goodbye mail.

    Goes through the unsubscription workflow as confirmed: the person is
    signed in as the verified owner of the address and pressed the button,
    which is the proof a confirmation mail would ask for (like RFC 8058's
    one-click POST).
    """
    return request_unsubscription(
        membership.mailing_list,
        membership.address.email,
        pre_verified=True,
        pre_confirmed=True,
        via="web",
        client_ip=client_ip,
    )


def _wanted_status(current: str, no_mail: bool) -> str:
    """The delivery status the member's no-mail choice asks for (mail
    stopped for bounces or by a moderator stays so under no-mail)."""
    if no_mail:
        return DeliveryStatus.BY_USER if current == DeliveryStatus.ENABLED else current
    return DeliveryStatus.ENABLED
