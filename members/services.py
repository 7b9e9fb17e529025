"""Addresses, memberships and bans: the one implementation that admin, API,
management commands and (later) email commands and web forms call."""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from lists.models import Action, MailingList
from mailman_site.events import emit
from members.ban_patterns import BanPattern, PatternError, compile_ban, compiled_or_none
from members.models import Address, Ban, DeliveryMode, DeliveryStatus, Membership, Role


class MembershipError(Exception):
    """Base of the errors this module raises; str() is a message for people."""


class InvalidAddress(MembershipError):
    def __init__(self, text: str, reason: str = "not a valid email address"):
        super().__init__(f"{text!r}: {reason}")
        self.text = text
        self.reason = reason


class AlreadySubscribed(MembershipError):
    def __init__(self, email: str, mlist: MailingList, role: str):
        super().__init__(f"{email} is already a {role} of {mlist.fqdn_listname}")


class NotSubscribed(MembershipError):
    def __init__(self, email: str, mlist: MailingList, role: str):
        super().__init__(f"{email} is not a {role} of {mlist.fqdn_listname}")


class BannedAddress(MembershipError):
    def __init__(self, email: str, mlist: MailingList):
        # Says nothing of the ban's pattern or whether it is site-wide.
        super().__init__(f"{email} may not subscribe to {mlist.fqdn_listname}")


class InvalidBan(MembershipError):
    pass


class InvalidMembershipChange(MembershipError):
    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


@dataclass
class BulkResult:
    """What a bulk subscribe or unsubscribe did, for reports."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, text, reason)
    banned: list[str] = field(default_factory=list)


# C0 and C1 control characters (Unicode category Cc): never part of an
# address or a display name, and unsafe to echo to a terminal.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# RFC 5321 section 4.5.3.1.3: a path is at most 256 octets with its angle
# brackets, so an address at most 254; Address.email holds no more.
MAX_EMAIL_LENGTH = 254


def split_address(text: str) -> tuple[str, str]:
    """`"Name <a@b>"`, `a@b Name` or `a@b` -> (email as given, display name).

    Raises InvalidAddress with a reason a person can act on.
    """
    text = text.strip()
    if not text:
        raise InvalidAddress(text, "empty")
    if CONTROL_CHARACTERS.search(text):
        raise InvalidAddress(text, "contains control characters")
    if "<" in text:
        display_name, email = parseaddr(text)
    else:
        email, _, display_name = text.partition(" ")
    email = email.strip()
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidAddress(text, f"address longer than {MAX_EMAIL_LENGTH} characters")
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidAddress(text) from None
    return email, display_name.strip().strip('"')[:255]


def parse_address(text: str) -> tuple[str, str]:
    """Like split_address, with the email lower-cased (the form it is stored in)."""
    email, display_name = split_address(text)
    return email.lower(), display_name


def get_or_create_address(email: str, display_name: str = "") -> Address:
    """The Address for `email` (validated), created when new."""
    original, parsed_name = split_address(email)
    address, created = Address.objects.get_or_create(
        email=original.lower(),
        defaults={"original_email": original, "display_name": display_name or parsed_name},
    )
    if not created and display_name and not address.display_name:
        address.display_name = display_name
        address.save(update_fields=["display_name"])
    return address


class BanList:
    """The bans that apply to one list (its own and the site's), compiled once."""

    def __init__(self, mlist: MailingList | None):
        bans = (
            Ban.objects.filter(Q(mailing_list=mlist) | Q(mailing_list__isnull=True))
            if mlist
            else (Ban.objects.filter(mailing_list__isnull=True))
        )
        self.emails: set[str] = set()
        self.patterns: list[BanPattern] = []
        for ban in bans:
            if ban.is_pattern:
                if (pattern := compiled_or_none(ban.email)) is not None:
                    self.patterns.append(pattern)
            else:
                self.emails.add(ban.email.lower())

    def __contains__(self, email: str) -> bool:
        email = email.lower()
        return email in self.emails or any(p.match(email) for p in self.patterns)


def is_banned(mlist: MailingList | None, email: str) -> bool:
    return email in BanList(mlist)


def default_delivery_mode(mlist: MailingList) -> str:
    if mlist.digest_is_default:
        return DeliveryMode.MIME_DIGESTS if mlist.mime_is_default_digest else DeliveryMode.PLAINTEXT_DIGESTS
    return DeliveryMode.REGULAR


@transaction.atomic
def subscribe(
    mlist: MailingList,
    email: str,
    *,
    display_name: str = "",
    role: str = Role.MEMBER,
    delivery_mode: str | None = None,
    moderation_action: str = "",
) -> Membership:
    """Add `email` to `mlist` with `role`, now (policies are applied by callers
    that need them). Raises InvalidAddress, BannedAddress, AlreadySubscribed."""
    _check_choice("role", role, Role)
    if delivery_mode is not None:
        _check_choice("delivery_mode", delivery_mode, DeliveryMode)
    if moderation_action:
        _check_choice("moderation_action", moderation_action, Action)
    address = get_or_create_address(email, display_name)
    if role == Role.MEMBER and is_banned(mlist, address.email):
        raise BannedAddress(address.email, mlist)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                mailing_list=mlist,
                address=address,
                role=role,
                delivery_mode=delivery_mode or default_delivery_mode(mlist),
                moderation_action=moderation_action,
            )
    except IntegrityError:
        raise AlreadySubscribed(address.email, mlist, role) from None
    emit("member_added", mailing_list=mlist, emails=[address.email], role=role)
    return membership


@transaction.atomic
def unsubscribe(mlist: MailingList, email: str, *, role: str = Role.MEMBER) -> None:
    """Remove `email`'s `role` on `mlist`; NotSubscribed if it has none."""
    try:
        normalized, _ = parse_address(email)
    except InvalidAddress:
        raise NotSubscribed(email, mlist, role) from None
    membership = (
        Membership.objects.select_related("address")
        .filter(mailing_list=mlist, address__email=normalized, role=role)
        .first()
    )
    if membership is None:
        raise NotSubscribed(normalized, mlist, role)
    remove_membership(membership)


@transaction.atomic
def remove_membership(membership: Membership) -> bool:
    """Delete `membership` and announce it; False, and no event, when it was
    gone already, so that two requests removing one member announce it once."""
    deleted, _ = Membership.objects.filter(pk=membership.pk).delete()
    if not deleted:
        return False
    emit(
        "member_removed",
        mailing_list=membership.mailing_list,
        emails=[membership.address.email],
        role=membership.role,
    )
    return True


UPDATABLE = {
    "role": Role,
    "delivery_mode": DeliveryMode,
    "delivery_status": DeliveryStatus,
    "moderation_action": Action,
}
PREFERENCES = {"receive_own_postings", "receive_list_copy", "acknowledge_posts", "hide_address"}


@transaction.atomic
def update_membership(membership: Membership, **changes: Any) -> Membership:
    """Change role, delivery mode, delivery status, moderation action or the
    member's yes/no preferences (PREFERENCES).

    All or nothing: raises InvalidMembershipChange, or AlreadySubscribed
    when the new role is one the address already holds on the list.
    """
    errors = {}
    for name, value in changes.items():
        if name in PREFERENCES:
            if not isinstance(value, bool):
                errors[name] = ["Must be true or false."]
        elif name not in UPDATABLE:
            errors[name] = ["Unknown or read-only field."]
        elif not (name == "moderation_action" and value in ("", None)) and value not in UPDATABLE[name].values:
            errors[name] = [f"Must be one of: {', '.join(UPDATABLE[name].values)}."]
    if errors:
        raise InvalidMembershipChange(errors)
    for name, value in changes.items():
        if name == "moderation_action" and value is None:
            value = ""
        setattr(membership, name, value)
    try:
        with transaction.atomic():
            membership.save(update_fields=list(changes))
    except IntegrityError:
        raise AlreadySubscribed(membership.address.email, membership.mailing_list, membership.role) from None
    emit(
        "member_changed",
        mailing_list=membership.mailing_list,
        emails=[membership.address.email],
        role=membership.role,
        changed=sorted(changes),
    )
    return membership


def change_role(membership: Membership, role: str) -> Membership:
    return update_membership(membership, role=role)


def bulk_subscribe(
    mlist: MailingList,
    lines: Iterable[str],
    *,
    role: str = Role.MEMBER,
    skip_invalid: bool = False,
    chunk_size: int = 5000,
    progress: Any = None,
) -> BulkResult:
    """Subscribe one address per line (`a@b`, `a@b Name` or `Name <a@b>`).

    Every line is parsed first; invalid lines are reported by line number.
    Unless `skip_invalid`, any invalid line means nothing is written. The
    writes happen in one transaction, in chunks, so a failure half-way
    leaves the roster as it was. `progress(n)` is called as chunks are done.
    """
    _check_choice("role", role, Role)
    result = BulkResult()
    entries, repeated = _parse_lines(lines, result)
    result.unchanged.extend(repeated)
    if result.invalid and not skip_invalid:
        return result
    # Bans keep people off the roster; owners and moderators are set by owners.
    bans = BanList(mlist) if role == Role.MEMBER else frozenset()
    mode = default_delivery_mode(mlist)
    with transaction.atomic():
        for chunk in _chunks(list(entries.items()), chunk_size):
            wanted = []
            for email, name in chunk:
                if email in bans:
                    result.banned.append(email)
                else:
                    wanted.append((email, name))
            address_ids = _ensure_addresses(wanted)
            existing = set(
                Membership.objects.filter(
                    mailing_list=mlist, role=role, address_id__in=address_ids.values()
                ).values_list("address_id", flat=True)
            )
            new = []
            for email, _ in wanted:
                if address_ids[email] in existing:
                    result.unchanged.append(email)
                else:
                    new.append(
                        Membership(mailing_list=mlist, address_id=address_ids[email], role=role, delivery_mode=mode)
                    )
                    result.added.append(email)
            Membership.objects.bulk_create(new, batch_size=1000)
            if progress:
                progress(len(chunk))
        if result.added:
            emit("member_added", mailing_list=mlist, emails=result.added, role=role)
    return result


def bulk_unsubscribe(
    mlist: MailingList, lines: Iterable[str], *, role: str = Role.MEMBER, skip_invalid: bool = False
) -> BulkResult:
    """Remove one address per line; the same reporting rules as bulk_subscribe."""
    _check_choice("role", role, Role)
    result = BulkResult()
    entries, _ = _parse_lines(lines, result)
    if result.invalid and not skip_invalid:
        return result
    with transaction.atomic():
        for chunk in _chunks(list(entries), 5000):
            found = dict(
                Membership.objects.filter(mailing_list=mlist, role=role, address__email__in=chunk).values_list(
                    "address__email", "pk"
                )
            )
            Membership.objects.filter(pk__in=found.values()).delete()
            for email in chunk:
                (result.removed if email in found else result.unchanged).append(email)
        if result.removed:
            emit("member_removed", mailing_list=mlist, emails=result.removed, role=role)
    return result


def ban_pattern(text: str) -> str:
    """`text` as a ban stores it: a `^regex` as written, an address lower-cased.

    Raises InvalidBan for a pattern that does not compile, text that is no
    address, or what no ban column can hold.
    """
    pattern = text.strip()
    if CONTROL_CHARACTERS.search(pattern) or len(pattern) > MAX_EMAIL_LENGTH:
        raise InvalidBan(f"A ban is an address or a ^pattern of at most {MAX_EMAIL_LENGTH} printable characters.")
    if pattern.startswith("^"):
        try:
            compile_ban(pattern)
        except PatternError as exc:
            raise InvalidBan(f"Invalid pattern {pattern!r}: {exc}") from None
        return pattern
    try:
        return parse_address(pattern)[0]
    except InvalidAddress as exc:
        raise InvalidBan(str(exc)) from None


@transaction.atomic
def ban(mlist: MailingList | None, pattern: str) -> Ban:
    """Ban an address or a `^regex` on `mlist`, or site-wide when None; the
    existing ban when there is one already."""
    ban_row, _ = Ban.objects.get_or_create(mailing_list=mlist, email=ban_pattern(pattern))
    return ban_row


@transaction.atomic
def unban(mlist: MailingList | None, pattern: str) -> bool:
    """Lift a ban; False when there was none."""
    try:
        pattern = ban_pattern(pattern)
    except InvalidBan:
        return False
    deleted, _ = Ban.objects.filter(mailing_list=mlist, email=pattern).delete()
    return deleted > 0


@transaction.atomic
def verify_address(email: str, user: AbstractBaseUser | None = None) -> Address:
    """Mark `email` verified now and, when given, link it to `user`."""
    address = get_or_create_address(email)
    fields = []
    if address.verified_at is None:
        address.verified_at = timezone.now()
        fields.append("verified_at")
    if user is not None and address.user_id != user.pk:
        address.user = user
        fields.append("user")
    if fields:
        address.save(update_fields=fields)
    return address


def _parse_lines(lines: Iterable[str], result: BulkResult) -> tuple[dict[str, str], list[str]]:
    """Parse bulk input: email -> display name in input order, and the emails
    given again; invalid lines go to `result.invalid` by line number.
    Blank lines and # comments are skipped."""
    entries: dict[str, str] = {}
    repeated: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            email, display_name = parse_address(line)
        except InvalidAddress as exc:
            result.invalid.append((number, line.rstrip("\n"), exc.reason))
            continue
        if email in entries:
            repeated.append(email)
        else:
            entries[email] = display_name
    return entries, repeated


def _ensure_addresses(entries: list[tuple[str, str]]) -> dict[str, int]:
    """Create the missing Address rows for (email, name) pairs; email -> id."""
    emails = [email for email, _ in entries]
    ids = dict(Address.objects.filter(email__in=emails).values_list("email", "pk"))
    missing = [Address(email=e, original_email=e, display_name=n) for e, n in entries if e not in ids]
    if missing:
        Address.objects.bulk_create(missing, batch_size=1000, ignore_conflicts=True)
        ids.update(Address.objects.filter(email__in=[a.email for a in missing]).values_list("email", "pk"))
    return ids


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_choice(name: str, value: str, choices: Any) -> None:
    if value not in choices.values:
        raise InvalidMembershipChange({name: [f"Must be one of: {', '.join(choices.values)}."]})


# Appended for the REST API's address endpoints.
class AddressUnavailable(MembershipError):
    def __init__(self, email: str, reason: str):
        super().__init__(f"{email} {reason}")
        self.email = email


@transaction.atomic
def link_address(user: AbstractBaseUser, email: str, display_name: str = "") -> Address:
    """Link `email` to `user`, unverified, or raise AddressUnavailable.

    An account's power over an address (list ownership, its memberships)
    rests on verifying it, so an address that is already linked or already
    verified is refused: linking it would skip or steal that proof.
    """
    address = get_or_create_address(email, display_name)
    address = Address.objects.select_for_update().get(pk=address.pk)
    if address.user_id == user.pk:
        raise AddressUnavailable(address.email, "is already linked to your account")
    if address.user_id is not None or address.verified_at is not None:
        # One answer for both, so the API cannot be used to learn who has an account.
        raise AddressUnavailable(address.email, "cannot be linked here; add it from your account's email settings")
    address.user = user
    address.save(update_fields=["user"])
    return address


@transaction.atomic
def unlink_address(address: Address) -> None:
    """Take `address` off its account; its memberships stay."""
    address.user = None
    address.save(update_fields=["user"])


@transaction.atomic
def delete_address(address: Address) -> None:
    """Delete `address` and every membership it holds."""
    for membership in address.memberships.select_related("mailing_list", "address"):
        remove_membership(membership)
    address.delete()
