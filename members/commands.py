"""The email commands (Mailman's names and aliases): subscribe (join),
unsubscribe (leave, remove), confirm, help and who. `end` and `stop` are
the parser's (members.command_parser).

Each command is a small class in the COMMANDS registry: a `name`, its
`aliases`, and `run(context, args)`, which returns the lines that answer it
in the reply. Membership changes go through members.workflows, as from the
web: subscribing and unsubscribing by mail always take the confirmation
path, so a forged From only sends a confirmation mail to the address's
real owner, and the workflow's rate limits apply. Replies say what the
workflow's `public_status` allows, never whether an address was already
subscribed or banned.
"""

from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from api.permissions import ROSTER_READER_ROLES
from lists.models import MailingList, RosterVisibility
from members.command_parser import printable
from members.models import Membership, Role
from members.notices import list_context
from members.roster import RosterAccess, roster
from members.services import InvalidAddress
from members.workflows import Status, WorkflowResult, confirm, request_subscription, request_unsubscription
from messages.addresses import UnknownRecipient, resolve_recipient
from messages.outgoing import SendError

ADDRESS_ARGUMENT = "address="
HELP_TEMPLATE = "members/mail/command_help.txt"


@dataclass(frozen=True)
class CommandContext:
    """Whom a command mail is from (the address the reply goes to), and for which list."""

    mlist: MailingList
    sender: str


class EmailCommand:
    name = ""
    aliases: tuple[str, ...] = ()

    def run(self, context: CommandContext, args: tuple[str, ...]) -> list[str]:
        raise NotImplementedError


COMMANDS: dict[str, EmailCommand] = {}


def register_command(cls: type[EmailCommand]) -> type[EmailCommand]:
    command = cls()
    for word in (cls.name, *cls.aliases):
        COMMANDS[word] = command
    return cls


def outcome(result: WorkflowResult) -> str:
    """What the requester may be told of `result` (its public_status only)."""
    values = {"email": result.email, "list": result.mailing_list}
    messages = {
        Status.CONFIRMATION_SENT: _(
            "A confirmation request was sent to %(email)s. Reply to it, or open its link, to go on."
        ),
        Status.PENDING_APPROVAL: _("The request of %(email)s now waits for the list owners' approval."),
        Status.SUBSCRIBED: _("%(email)s is now subscribed to %(list)s."),
        Status.UNSUBSCRIBED: _("%(email)s is no longer subscribed to %(list)s."),
        Status.ALREADY_MEMBER: _("%(email)s is already subscribed to %(list)s."),
        Status.NOT_MEMBER: _("%(email)s is not subscribed to %(list)s."),
        Status.BANNED: _("%(email)s cannot be subscribed to %(list)s."),
        Status.RATE_LIMITED: _("Too many requests for %(email)s; please try again in an hour."),
        Status.INVALID_TOKEN: _(
            "This confirmation is not valid: it was used already, has expired, or is for another list."
        ),
    }
    return messages.get(result.public_status, _("Done.")) % values


def target_address(context: CommandContext, args: tuple[str, ...]) -> tuple[str, list[str]]:
    """The address a (un)subscribe command is about: `address=...`, else the
    sender's; and notes on arguments that were ignored (never quoted: a
    Mailman 2 habit puts a password there)."""
    addresses = [arg[len(ADDRESS_ARGUMENT) :] for arg in args if arg.lower().startswith(ADDRESS_ARGUMENT)]
    notes = [_("Arguments other than address= were ignored.")] if len(addresses) < len(args) else []
    return (addresses[0] if addresses else context.sender), notes


def is_list_address(email: str) -> bool:
    """`email` is one of the site's list addresses (ant@, ant-request@ ...)."""
    try:
        resolve_recipient(email)
    except UnknownRecipient:
        return False
    return True


def run_workflow(workflow, context: CommandContext, args: tuple[str, ...]) -> list[str]:
    email, notes = target_address(context, args)
    if is_list_address(email):
        # Its confirmation request would come back in as a post or a command.
        return [*notes, _("A list address cannot be subscribed or unsubscribed.")]
    try:
        result = workflow(context.mlist, email, via="email")
    except InvalidAddress:
        return [*notes, _("That is not a valid email address.")]
    except SendError as exc:
        if exc.temporary:
            # Nothing was written; the whole message is tried again later.
            raise
        return [*notes, _("No confirmation request could be sent to %(email)s.") % {"email": email}]
    return [*notes, outcome(result)]


@register_command
class Subscribe(EmailCommand):
    """subscribe [address=ADDRESS]: the sender, or ADDRESS, asks to join."""

    name = "subscribe"
    aliases = ("join",)

    def run(self, context: CommandContext, args: tuple[str, ...]) -> list[str]:
        return run_workflow(request_subscription, context, args)


@register_command
class Unsubscribe(EmailCommand):
    """unsubscribe [address=ADDRESS]: the sender, or ADDRESS, asks to leave."""

    name = "unsubscribe"
    aliases = ("leave", "remove")

    def run(self, context: CommandContext, args: tuple[str, ...]) -> list[str]:
        return run_workflow(request_unsubscription, context, args)


@register_command
class Confirm(EmailCommand):
    """confirm TOKEN: what the confirmation mail asked for is done."""

    name = "confirm"

    def run(self, context: CommandContext, args: tuple[str, ...]) -> list[str]:
        if len(args) != 1:
            return [_("Usage: confirm TOKEN, with the token from the confirmation mail.")]
        return [outcome(confirm(args[0], mlist=context.mlist))]


@register_command
class Help(EmailCommand):
    """help: how to use these commands."""

    name = "help"

    def run(self, context: CommandContext, args: tuple[str, ...]) -> list[str]:
        mlist = context.mlist
        values = {
            **list_context(mlist),
            "join_email": mlist.subaddress("join"),
            "leave_email": mlist.subaddress("leave"),
        }
        return render_to_string(HELP_TEMPLATE, values).strip().splitlines()


@register_command
class Who(EmailCommand):
    """who: the list's members, as far as its roster visibility lets the sender see them."""

    name = "who"

    def run(self, context: CommandContext, args: tuple[str, ...]) -> list[str]:
        mlist = context.mlist
        access = roster_access_by_mail(mlist, context.sender)
        if access is RosterAccess.NONE:
            return [_("You may not see the members of %(list)s.") % {"list": mlist}]
        members = roster(mlist, access, role=Role.MEMBER).values_list("address__display_name", "address__email")
        lines = [_("Members of %(list)s:") % {"list": mlist}]
        lines += [f"    {printable(f'{name} <{email}>' if name else email)}" for name, email in members.iterator()]
        if len(lines) == 1:
            lines.append("    " + _("(no members you may see)"))
        return lines


def roster_access_by_mail(mlist: MailingList, email: str) -> RosterAccess:
    """How much of the roster a command mail from `email` may be answered
    with: members.roster.roster_access, for an address rather than a user.
    The answer goes to `email` alone, so whoever forged it reads nothing."""
    roles = set(Membership.objects.filter(mailing_list=mlist, address__email=email).values_list("role", flat=True))
    if roles & ROSTER_READER_ROLES:
        return RosterAccess.FULL
    visibility = mlist.member_roster_visibility
    if visibility == RosterVisibility.PUBLIC or (visibility == RosterVisibility.MEMBERS and Role.MEMBER in roles):
        return RosterAccess.SHOWN_MEMBERS
    return RosterAccess.NONE
