"""The list lifecycle: domains, creating, configuring and deleting lists.

Admin, API and management commands all call these functions; none of them
writes list rows directly.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from lists.models import (
    FILTER_PATTERN_MAX_LENGTH,
    Action,
    ContentFilter,
    Domain,
    FilterPart,
    ListTemplate,
    MailingList,
    TemplateName,
)
from mailman_site.events import emit
from mailman_site.safe_regex import PatternError, compile_safe


class ListError(Exception):
    """Base of the errors this module raises; str() is a message for people."""


class UnknownList(ListError):
    def __init__(self, fqdn_listname: str):
        super().__init__(f"No such list: {fqdn_listname}")
        self.fqdn_listname = fqdn_listname


class UnknownDomain(ListError):
    def __init__(self, mail_host: str):
        super().__init__(f"No such domain: {mail_host}")
        self.mail_host = mail_host


class ListAlreadyExists(ListError):
    def __init__(self, fqdn_listname: str):
        super().__init__(f"List already exists: {fqdn_listname}")
        self.fqdn_listname = fqdn_listname


class DomainAlreadyExists(ListError):
    def __init__(self, mail_host: str):
        super().__init__(f"Domain already exists: {mail_host}")


class InvalidListName(ListError):
    pass


class InvalidSetting(ListError):
    """One or more settings were rejected; `errors` maps field to messages."""

    def __init__(self, errors: Mapping[str, list[str]]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in self.errors.items()))


# A list name is the local part of its posting address; the -request, -owner
# (...) subaddresses are appended to it, so it may not itself carry a "+".
LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAIL_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Reserved because they are the subaddress suffixes of another list.
RESERVED_SUFFIXES = ("-request", "-owner", "-bounces", "-join", "-leave", "-subscribe", "-unsubscribe", "-confirm")

# Settings that are identity or bookkeeping, not configuration.
NOT_CONFIGURABLE = {"id", "domain", "list_name", "created_at", "next_post_id", "digest_last_sent_at"}


def split_listname(fqdn_listname: str) -> tuple[str, str]:
    """`name@host` -> (name, host), lower-cased; InvalidListName if malformed."""
    name, at, host = fqdn_listname.strip().lower().rpartition("@")
    if not at or not name or not host:
        raise InvalidListName(f"Not a list address (name@domain): {fqdn_listname!r}")
    return name, host


def get_list(fqdn_listname: str) -> MailingList:
    try:
        name, host = split_listname(fqdn_listname)
    except InvalidListName:
        raise UnknownList(fqdn_listname) from None
    try:
        return MailingList.objects.select_related("domain").get(list_name=name, domain__mail_host=host)
    except MailingList.DoesNotExist:
        raise UnknownList(fqdn_listname) from None


def create_domain(mail_host: str, web_host: str = "", description: str = "") -> Domain:
    mail_host = mail_host.strip().lower()
    if not MAIL_HOST.match(mail_host):
        raise InvalidSetting({"mail_host": [f"Not a valid domain name: {mail_host!r}"]})
    try:
        with transaction.atomic():
            return Domain.objects.create(
                mail_host=mail_host, web_host=web_host.strip().lower(), description=description
            )
    except IntegrityError:
        raise DomainAlreadyExists(mail_host) from None


def get_domain(mail_host: str) -> Domain:
    try:
        return Domain.objects.get(mail_host=mail_host.strip().lower())
    except Domain.DoesNotExist:
        raise UnknownDomain(mail_host) from None


@transaction.atomic
def create_list(
    fqdn_listname: str,
    *,
    owners: Iterable[str] = (),
    create_domain_if_missing: bool = False,
    **settings: Any,
) -> MailingList:
    """Create a list with Mailman's defaults, `settings` applied on top.

    Owners are subscribed with the owner role. Raises InvalidListName,
    UnknownDomain, ListAlreadyExists or InvalidSetting; on any error
    nothing is written.
    """
    from members.models import Role
    from members.services import subscribe

    name, host = split_listname(fqdn_listname)
    if not LIST_NAME.match(name) or name.endswith(RESERVED_SUFFIXES) or "+" in name:
        raise InvalidListName(
            f"Invalid list name {name!r}: use up to 64 lower-case letters, digits, '.', '_' or '-',"
            " not ending in a reserved suffix such as -request"
        )
    if create_domain_if_missing:
        domain, _ = Domain.objects.get_or_create(mail_host=host)
    else:
        domain = get_domain(host)
    if MailingList.objects.filter(domain=domain, list_name=name).exists():
        raise ListAlreadyExists(f"{name}@{host}")
    mlist = MailingList(domain=domain, list_name=name, display_name=name.capitalize(), subject_prefix=f"[{name}] ")
    _apply_settings(mlist, settings)
    try:
        with transaction.atomic():
            mlist.save()
    except IntegrityError:
        raise ListAlreadyExists(f"{name}@{host}") from None
    for owner in owners:
        subscribe(mlist, owner, role=Role.OWNER)
    emit("list_created", mailing_list=mlist)
    return mlist


@transaction.atomic
def configure_list(mlist: MailingList, **settings: Any) -> MailingList:
    """Change settings of a list; all or none are applied (InvalidSetting)."""
    _apply_settings(mlist, settings)
    mlist.save()
    emit("list_configured", mailing_list=mlist, changed=sorted(settings))
    return mlist


@transaction.atomic
def delete_list(mlist: MailingList) -> None:
    fqdn_listname = mlist.fqdn_listname
    list_pk = mlist.pk
    mlist.delete()
    emit("list_deleted", fqdn_listname=fqdn_listname, list_pk=list_pk)


def configurable_fields() -> list[str]:
    return [field.name for field in MailingList._meta.concrete_fields if field.name not in NOT_CONFIGURABLE]


def _apply_settings(mlist: MailingList, settings: Mapping[str, Any]) -> None:
    """Validate and set `settings` on the unsaved `mlist`, or raise InvalidSetting."""
    allowed = set(configurable_fields())
    errors: dict[str, list[str]] = {name: ["Unknown or read-only setting."] for name in settings if name not in allowed}
    if errors:
        raise InvalidSetting(errors)
    for name, value in settings.items():
        if name == "moderator_password" and value:
            value = make_password(value)
        setattr(mlist, name, value)
    try:
        mlist.full_clean(exclude=["domain"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise InvalidSetting(exc.message_dict) from None


# Appended for the REST API's domain endpoints.
class DomainHasLists(ListError):
    def __init__(self, mail_host: str):
        super().__init__(f"Domain {mail_host} still has lists; delete them first")
        self.mail_host = mail_host


DOMAIN_SETTINGS = {"web_host", "description"}


@transaction.atomic
def update_domain(domain: Domain, **changes: str) -> Domain:
    """Change web_host or description (mail_host is the domain's identity)."""
    errors = {name: ["Unknown or read-only field."] for name in changes if name not in DOMAIN_SETTINGS}
    if errors:
        raise InvalidSetting(errors)
    if "web_host" in changes:
        changes["web_host"] = changes["web_host"].strip().lower()
    for name, value in changes.items():
        setattr(domain, name, value)
    domain.save(update_fields=list(changes))
    return domain


@transaction.atomic
def delete_domain(domain: Domain) -> None:
    """Delete a domain without lists; DomainHasLists while it has any."""
    try:
        domain.delete()
    except ProtectedError:
        raise DomainHasLists(domain.mail_host) from None


# A blank header or footer is a choice (no footer at all); a blank mail is not.
BLANK_ALLOWED = frozenset(
    {TemplateName.REGULAR_HEADER, TemplateName.REGULAR_FOOTER, TemplateName.DIGEST_HEADER, TemplateName.DIGEST_FOOTER}
)


@transaction.atomic
def set_template(mlist: MailingList | None, name: str, text: str) -> ListTemplate:
    """An owner's wording of one of the list's mails (site-wide when `mlist`
    is None). Empty text goes back to the default; text of only blanks does
    too, except for a header or footer, where it means none."""
    if name not in TemplateName.values:
        raise InvalidSetting({"name": [f"Unknown template: {name!r}."]})
    if not text or (not text.strip() and name not in BLANK_ALLOWED):
        ListTemplate.objects.filter(mailing_list=mlist, name=name).delete()
        return ListTemplate(mailing_list=mlist, name=name, text="")
    template = ListTemplate.objects.filter(mailing_list=mlist, name=name).first() or ListTemplate(
        mailing_list=mlist, name=name
    )
    template.text = text
    try:
        template.full_clean()
    except ValidationError as exc:
        raise InvalidSetting(exc.message_dict) from None
    template.save()
    return template


# Header and body filters (the header-filters rule runs them in order).

# RFC 5322 section 3.6.8: a field name is printable US-ASCII but the colon.
HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]{1,255}")
# Every filter runs on every post; a list needs a few dozen at most.
MAX_CONTENT_FILTERS = 200
FILTER_ACTIONS = [action for action in Action.values if action != Action.DEFER]


def content_filter_errors(part: str, header: str, pattern: str, action: str) -> dict[str, list[str]]:
    """What is wrong with one header or body filter, by field; empty when
    nothing is. The pattern must compile with RE2, as it will run."""
    errors: dict[str, list[str]] = {}
    if part not in FilterPart.values:
        errors["part"] = [f"Not one of {', '.join(FilterPart.values)}: {part!r}."]
    if part == FilterPart.HEADER and not HEADER_NAME.fullmatch(header or ""):
        errors["header"] = [f"Not a header name (RFC 5322: printable ASCII without ':' or spaces): {header!r}."]
    if action == Action.DEFER:
        errors["action"] = [f"A filter cannot defer; choose one of {', '.join(FILTER_ACTIONS)}."]
    elif action not in FILTER_ACTIONS:
        errors["action"] = [f"Not one of {', '.join(FILTER_ACTIONS)}: {action!r}."]
    if not pattern:
        errors["pattern"] = ["The pattern is empty."]
    elif len(pattern) > FILTER_PATTERN_MAX_LENGTH or "\x00" in pattern:
        errors["pattern"] = [f"The pattern must be at most {FILTER_PATTERN_MAX_LENGTH} characters, without NUL."]
    else:
        try:
            compile_safe(pattern)
        except PatternError as exc:
            errors["pattern"] = [f"The pattern {pattern!r} is not a regular expression RE2 accepts: {exc}."]
    return errors


@transaction.atomic
def set_content_filters(mlist: MailingList, filters: Sequence[Mapping[str, str]]) -> list[ContentFilter]:
    """Replace the list's header and body filters with `filters` (mappings of
    part, header, pattern and action), first to run first. All or none: on
    InvalidSetting, naming each filter at fault by its number, nothing changed.
    A body filter's header is not kept."""
    errors: dict[str, list[str]] = {}
    if len(filters) > MAX_CONTENT_FILTERS:
        errors["filters"] = [f"At most {MAX_CONTENT_FILTERS} filters, not {len(filters)}."]
    rows = []
    for number, spec in enumerate(filters, 1):
        part = spec.get("part", FilterPart.HEADER)
        header = spec.get("header", "") if part == FilterPart.HEADER else ""
        fields = {"part": part, "header": header, "pattern": spec.get("pattern", ""), "action": spec.get("action", "")}
        for field, messages in content_filter_errors(**fields).items():
            errors.setdefault(f"filter {number}", []).extend(f"{field}: {message}" for message in messages)
        rows.append(ContentFilter(mailing_list=mlist, position=number - 1, **fields))
    if errors:
        raise InvalidSetting(errors)
    ContentFilter.objects.filter(mailing_list=mlist).delete()
    created = ContentFilter.objects.bulk_create(rows)
    emit("list_configured", mailing_list=mlist, changed=["content_filters"])
    return created
