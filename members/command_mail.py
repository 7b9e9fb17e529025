"""Mail to `list-request@` (commands in Subject and body), to `list-join@`
and `list-subscribe@` (subscribe, whatever it says) and to `list-leave@`
and `list-unsubscribe@` (unsubscribe): the commands are run and the sender
gets one reply saying what each did (Mailman's "The results of your email
commands").

Registered for Destination.REQUEST, JOIN and LEAVE in messages.dispatch
when the members app is ready.

Mail that must not be answered is DISCARDED with its commands left unrun:
automatic mail (RFC 3834 section 2: Auto-Submitted other than "no",
Precedence bulk, junk or list), bounces (null envelope sender, MAILER-DAEMON,
multipart/report), list traffic (any List-Id or X-BeenThere: a list post
answered is the start of a loop, whichever server sent it), and mail from
one of the site's own list addresses. An auto-reply quoting "confirm TOKEN"
must not confirm anything, as in members.confirm_by_mail. Mail in which no
command is found is DISCARDED unanswered too: it is spam or misdirected,
and answering it would mail whoever a forger put in From (backscatter).

The reply goes to the sender (From, else Sender, else the envelope sender;
never Reply-To), the address whose rights `who` checked. One address gets
at most `max_replies_per_day()` replies a day from the whole site (Mailman's
max_autoresponses_per_day, 10, counted per list there); the last one says
so, and later messages' commands still run, unanswered.

The commands and the reply are one transaction. When the reply cannot be
sent for a passing reason, nothing is kept and SendError goes up to the
dispatcher, which tries the message again later; a reply refused for good
(a forged address) is logged and the commands stand.
"""

import logging
import re
import textwrap
from collections.abc import Callable
from email.message import EmailMessage

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from lists.models import MailingList
from members import commands, ratelimit
from members.command_parser import CommandLine, ParsedCommands, parse_message_commands
from members.confirm_by_mail import find_token
from members.notices import list_context
from members.services import InvalidAddress, parse_address
from messages import moderation_mail
from messages.dispatch import DESTINATIONS, finish, mailing_list_of
from messages.models import Destination, InboundMessage, InboundStatus
from messages.outgoing import SendError, is_automatic, make_notice, send_message
from messages.pipeline.mime import (
    find_senders,
    header_addresses,
    header_text,
    parse_message,
    raw_header,
    raw_headers,
)

logger = logging.getLogger(__name__)

RESULTS_TEMPLATE = "members/mail/command_results.txt"
# Mailman's max_autoresponses_per_day; override with
# settings.MEMBERS_MAX_COMMAND_REPLIES_PER_DAY.
DEFAULT_MAX_REPLIES_PER_DAY = 10
BOUNCE_SENDERS = {"mailer-daemon"}
WRAP_WIDTH = 72
MESSAGE_ID = re.compile(r"^<[^<>\s]{1,250}>$")


def answer_request(inbound: InboundMessage) -> None:
    """Run the commands in a message to -request and answer it; a reply to
    a held post's notice (its `confirm TOKEN` Subject kept) decides on the
    post instead (messages.moderation_mail)."""
    mlist = mailing_list_of(inbound)
    msg = parse_message(inbound.raw)
    token = find_token("", header_text(msg, "Subject"))
    if moderation_mail.is_held_post_token(mlist, token):
        moderation_mail.decide_by_mail(inbound, mlist, msg, token)
        return
    answer(inbound, lambda msg: parse_message_commands(msg, commands.COMMANDS))


def answer_join(inbound: InboundMessage) -> None:
    """A message to -join or -subscribe is a `subscribe` command, whatever it says."""
    answer(inbound, lambda msg: ParsedCommands([CommandLine("subscribe", (), "subscribe")]))


def answer_leave(inbound: InboundMessage) -> None:
    """A message to -leave or -unsubscribe is an `unsubscribe` command, whatever it says."""
    answer(inbound, lambda msg: ParsedCommands([CommandLine("unsubscribe", (), "unsubscribe")]))


def answer(inbound: InboundMessage, find_commands: Callable[[EmailMessage], ParsedCommands]) -> None:
    """Run the commands `find_commands` reads in the claimed `inbound`, and
    reply; ACCEPTED when any ran, else DISCARDED (see the module docstring)."""
    mlist = mailing_list_of(inbound)
    # A message that cannot be parsed at all raises, and the dispatcher parks it with the error.
    msg = parse_message(inbound.raw)
    if reason := why_not_answered(msg, inbound.mail_from):
        return done(inbound, InboundStatus.DISCARDED, reason)
    sender = reply_address(msg, inbound.mail_from)
    if not sender:
        return done(inbound, InboundStatus.DISCARDED, "no sender address that may be answered")
    parsed = find_commands(msg)
    if not parsed.commands:
        return done(inbound, InboundStatus.DISCARDED, "no commands found")
    with transaction.atomic():
        results = run_commands(commands.CommandContext(mlist, sender), parsed.commands)
        replies, limit = count_reply(sender), max_replies_per_day()
        answered = "answered" if replies <= limit else "not answered: the daily reply limit was reached"
        done(inbound, InboundStatus.ACCEPTED, f"{len(results)} command(s) run, {answered}")
        if replies <= limit:
            send_results(mlist, msg, sender, results, parsed, last=replies == limit)


def done(inbound: InboundMessage, status: str, reason: str) -> None:
    finish(inbound, status, note=reason)
    logger.info("Email commands %s to %s: %s, %s", inbound.pk, inbound.rcpt_to, status, reason)


def why_not_answered(msg: EmailMessage, envelope_sender: str) -> str:
    """Why `msg` must get no answer, or "" (see the module docstring)."""
    if is_automatic(msg):
        return "automatic mail (Auto-Submitted or Precedence)"
    if is_bounce(msg, envelope_sender):
        return "a bounce"
    if raw_headers(msg, "List-Id") or raw_headers(msg, "X-BeenThere"):
        return "mail from a mailing list"
    return ""


def is_bounce(msg: EmailMessage, envelope_sender: str) -> bool:
    """A delivery report: RFC 5321 section 4.5.5's null sender, a MAILER-DAEMON,
    or an RFC 6522 multipart/report (DSNs, read receipts)."""
    envelope_sender = envelope_sender.strip().strip("<>")
    senders = [envelope_sender, *header_addresses(msg, "From", "Sender")]
    return (
        not envelope_sender
        or any(address.partition("@")[0].lower() in BOUNCE_SENDERS for address in senders)
        or msg.get_content_type() == "multipart/report"
    )


def reply_address(msg: EmailMessage, envelope_sender: str) -> str:
    """The sender's address (From, else Sender, else the envelope sender);
    "" when it is no valid address or one of the site's list addresses."""
    senders = find_senders(msg, envelope_sender)
    try:
        email, _name = parse_address(senders[0] if senders else "")
    except InvalidAddress:
        return ""
    return "" if commands.is_list_address(email) else email


def run_commands(context: commands.CommandContext, lines: list[CommandLine]) -> list[dict]:
    """Run each command once (a token both in the Subject and the body
    confirms once); what each did, for the reply."""
    results, seen = [], set()
    for line in lines:
        key = (commands.COMMANDS[line.name].name, tuple(arg.lower() for arg in line.args))
        if key in seen:
            continue
        seen.add(key)
        lines = commands.COMMANDS[line.name].run(context, line.args)
        results.append({"line": line.line, "lines": [short for text in lines for short in wrap(text)]})
    return results


def wrap(text: str) -> list[str]:
    """A sentence cut into lines that fit a mail; an indented line (a roster entry) as it is."""
    return [text] if text.startswith(" ") else textwrap.wrap(text, WRAP_WIDTH, break_on_hyphens=False) or [""]


def max_replies_per_day() -> int:
    return getattr(settings, "MEMBERS_MAX_COMMAND_REPLIES_PER_DAY", DEFAULT_MAX_REPLIES_PER_DAY)


def count_reply(email: str) -> int:
    """Count one more reply to `email` today (UTC); how many there were today, this one included."""
    return ratelimit.count_today("command_replies", email)


def send_results(
    mlist: MailingList, msg: EmailMessage, sender: str, results: list[dict], parsed: ParsedCommands, *, last: bool
) -> None:
    """Reply to `sender`: what each command did, the lines not understood,
    and whether this is the last reply today. From -request, as Mailman's.

    Raises SendError when it may work later; a refusal for good is logged.
    """
    context = {
        **list_context(mlist),
        "results": results,
        "unrecognized": parsed.unrecognized,
        "unread": parsed.unread,
        "last_reply": last,
        "limit": max_replies_per_day(),
    }
    text = render_to_string(RESULTS_TEMPLATE, context).strip() + "\n"
    reply = make_notice(mlist, sender, _("The results of your email commands"), text)
    reply.replace_header("From", mlist.subaddress("request"))
    message_id = (raw_header(msg, "Message-ID") or "").strip()
    if MESSAGE_ID.match(message_id):
        reply["In-Reply-To"] = message_id
        reply["References"] = message_id
    try:
        send_message(reply, mail_from=mlist.subaddress("bounces"), recipients=[sender])
    except SendError as exc:
        if exc.temporary:
            raise
        logger.warning("The results of email commands to %s could not be sent to %s: %s", mlist, sender, exc)


def register() -> None:
    DESTINATIONS[Destination.REQUEST] = answer_request
    DESTINATIONS[Destination.JOIN] = answer_join
    DESTINATIONS[Destination.LEAVE] = answer_leave
