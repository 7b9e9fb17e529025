"""Deciding on a held post by replying to its notice.

The notice to moderators (messages.moderation_notices.send_held_notice)
carries a token: in its Reply-To, `list-confirm+TOKEN@domain`, and in its
Subject, `... (confirm TOKEN)`. A reply to that address, or to -confirm or
-request keeping the Subject, decides on the post; the token alone is the
authority (only the list's administrators got it), used up once. The first
line of the reply's own text (before the quoted notice, a line starting
with ">", or a signature, "-- ") says what to do:

- nothing at all (a reply sent as it is), or `approve`: approve the post;
- `Approved: PASSWORD` (also Approve:, X-Approved:, or as a header, as
  Mailman reads it): approve, when PASSWORD is the list's moderator
  password; a wrong one decides nothing;
- `reject` or `reject: REASON` (REASON may go on over the next lines,
  up to a blank one): reject, and the sender is told REASON;
- `discard`: discard it silently;
- anything else: nothing is decided and the token stays good, so that a
  moderator's "not sure about this one" approves nothing (unless the
  reply carries an Approved: header with the password: that approves).

Automatic replies (RFC 3834) decide nothing either. Mailman 3 discards on
a plain reply and approves only with the password; here the plain reply
approves, as the token is as secret as the password and a reply is what
a moderator means by "yes".
"""

import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage

from django.contrib.auth.hashers import check_password
from django.db import transaction

from lists.models import MailingList
from members import tokens
from members.models import ConfirmationToken, TokenAction
from messages import moderation
from messages.dispatch import finish
from messages.models import HeldMessage, InboundMessage, InboundStatus
from messages.moderation_log import Via
from messages.outgoing import SendError, is_automatic
from messages.pipeline.mime import find_senders, first_text_plain, header_text, part_text
from messages.rules.approved import HEADERS as PASSWORD_HEADERS
from messages.rules.approved import PSEUDO_HEADER

logger = logging.getLogger(__name__)

APPROVE, REJECT, DISCARD = "approve", "reject", "discard"
COMMAND = re.compile(r"^(?P<word>approve|reject|discard)\b[\s:]*(?P<rest>.*)$", re.IGNORECASE)
# A reason by mail is kept to this many characters.
REASON_LENGTH = 1000
SIGNATURE = "-- "


@dataclass(frozen=True)
class Reply:
    """What a reply to a held post's notice asks for: a command, or "" when it is not understood."""

    command: str
    reason: str = ""
    password: str | None = None


def is_held_post_token(mlist: MailingList, token: str) -> bool:
    """`token` was given out for a held post of `mlist`, used up or not: a
    second reply to the same notice (to -confirm and -request both, say) is
    answered here too, not taken for commands."""
    if not token or not tokens.looks_like_token(token):
        return False
    return ConfirmationToken.objects.filter(
        digest=tokens.digest(token), mailing_list=mlist, action=TokenAction.HELD_POST
    ).exists()


def read_reply(msg: EmailMessage) -> Reply:
    """The decision a reply asks for (see the module docstring)."""
    password = next((header_text(msg, name) for name in PASSWORD_HEADERS if name in msg), None)
    lines = own_lines(msg)
    if not lines:
        return Reply(APPROVE, password=password)
    pseudo = PSEUDO_HEADER.match(lines[0])
    if pseudo and pseudo.group("name").lower() in PASSWORD_HEADERS:
        return Reply(APPROVE, password=pseudo.group("value").strip())
    found = COMMAND.match(lines[0].strip())
    if found is None:
        # With the password in a header the moderator said "approve" already.
        return Reply(APPROVE if password is not None else "", password=password)
    command = found.group("word").lower()
    if command != REJECT:
        return Reply(command, password=password)
    reason_lines = [found.group("rest"), *paragraph(lines[1:])]
    return Reply(REJECT, "\n".join(line for line in reason_lines if line).strip()[:REASON_LENGTH], password)


def own_lines(msg: EmailMessage) -> list[str]:
    """The reply's own non-blank lines: before the quote and the signature,
    without the attribution line ("On ..., X wrote:") that leads a quote."""
    part = first_text_plain(msg)
    text = (part_text(part) if part is not None else None) or ""
    lines, quoted = [], False
    for line in text.splitlines():
        if line.startswith(">") or line.rstrip() == SIGNATURE.rstrip():
            quoted = line.startswith(">")
            break
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    if quoted and lines and lines[-1].endswith(":"):
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def paragraph(lines: list[str]) -> list[str]:
    """`lines` up to the first blank one."""
    return lines[: next((number for number, line in enumerate(lines) if not line.strip()), len(lines))]


def decide_by_mail(inbound: InboundMessage, mlist: MailingList, msg: EmailMessage, token: str) -> None:
    """Act on the reply `inbound` carrying the held post's `token`; the reply
    ends ACCEPTED when it decided, else DISCARDED with a note why."""
    if is_automatic(msg):
        return done(inbound, InboundStatus.DISCARDED, "automatic reply to a held post's notice")
    reply = read_reply(msg)
    if not reply.command:
        return done(inbound, InboundStatus.DISCARDED, "no moderation command understood; nothing decided")
    if reply.password is not None and not (
        mlist.moderator_password and check_password(reply.password, mlist.moderator_password)
    ):
        return done(inbound, InboundStatus.DISCARDED, "wrong moderator password; nothing decided")
    senders = find_senders(msg, inbound.mail_from)
    moderator = senders[0] if senders else ""
    try:
        with transaction.atomic():
            row = tokens.consume(token, mlist=mlist, actions=(TokenAction.HELD_POST,))
            held = HeldMessage.objects.select_related("mailing_list__domain").get(
                pk=row.data.get("held_message"), mailing_list=mlist
            )
            act(held, reply, moderator)
    except (tokens.InvalidToken, HeldMessage.DoesNotExist):
        return done(inbound, InboundStatus.DISCARDED, "the token is no longer valid")
    except moderation.AlreadyDecided as exc:
        return done(inbound, InboundStatus.DISCARDED, str(exc))
    except moderation.NoticeNotSent as exc:
        # The sender's notice could not go: nothing was decided; the
        # dispatcher tries the reply again later, or parks it.
        cause = exc.__cause__
        raise cause if isinstance(cause, SendError) else SendError(str(exc), temporary=False) from exc
    done(inbound, InboundStatus.ACCEPTED, f"held post {held.pk}: {reply.command} by {moderator or 'mail'}")


def act(held: HeldMessage, reply: Reply, moderator: str) -> None:
    if reply.command == APPROVE:
        moderation.approve(held, None, via=Via.EMAIL, actor_email=moderator)
    elif reply.command == REJECT:
        moderation.reject(held, None, reply.reason, via=Via.EMAIL, actor_email=moderator)
    else:
        moderation.discard(held, None, via=Via.EMAIL, actor_email=moderator)


def done(inbound: InboundMessage, status: str, note: str) -> None:
    finish(inbound, status, note=note)
    logger.info("Reply %s to a held post's notice: %s, %s", inbound.pk, status, note)
