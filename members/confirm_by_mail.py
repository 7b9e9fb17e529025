"""Confirming by mail: a message to `list-confirm+TOKEN@domain`, or a reply
to a confirmation mail whose Subject still says `confirm TOKEN` (Mailman's
two ways), confirms as the link would. A token of a held post's notice
decides on the post instead (messages.moderation_mail).

Registered for Destination.CONFIRM in messages.dispatch when the members
app is ready. Mail that carries no valid token is discarded without an
answer: answering would send mail to whatever address a forger put there.
"""

import logging
import re

from django.db import transaction

from members.tokens import looks_like_token
from members.workflows import Status, confirm
from messages import moderation_mail
from messages.dispatch import DESTINATIONS, finish, mailing_list_of
from messages.models import Destination, InboundMessage, InboundStatus
from messages.outgoing import is_automatic
from messages.pipeline.mime import header_text, parse_message

logger = logging.getLogger(__name__)

SUBJECT_TOKEN = re.compile(r"\bconfirm\s+([a-z2-7]{32})\b", re.IGNORECASE)


def find_token(argument: str, subject: str) -> str:
    """The token of `-confirm+TOKEN`, else of a Subject such as `Re: confirm TOKEN`; "" if neither."""
    if looks_like_token(argument):
        return argument
    found = SUBJECT_TOKEN.search(subject or "")
    return found.group(1) if found else ""


def confirm_inbound(inbound: InboundMessage) -> None:
    """Confirm the token a -confirm message carries; ACCEPTED when it was valid, else DISCARDED."""
    mlist = mailing_list_of(inbound)
    msg = parse_message(inbound.raw)
    # RFC 3834 section 2: an auto-responder answering the confirmation mail
    # (which names -confirm in Reply-To) is not the person consenting.
    if is_automatic(msg):
        logger.info("Automatic reply %s to %s not taken as a confirmation", inbound.pk, inbound.rcpt_to)
        finish(inbound, InboundStatus.DISCARDED)
        return
    token = find_token(inbound.subaddress_argument, header_text(msg, "Subject"))
    if moderation_mail.is_held_post_token(mlist, token):
        moderation_mail.decide_by_mail(inbound, mlist, msg, token)
        return
    with transaction.atomic():
        result = confirm(token, mlist=mlist) if token else None
        valid = result is not None and result.status != Status.INVALID_TOKEN
        finish(inbound, InboundStatus.ACCEPTED if valid else InboundStatus.DISCARDED)
    logger.info("Confirmation by mail %s on %s: %s", inbound.pk, mlist, result.status if result else "no token")


def register() -> None:
    DESTINATIONS[Destination.CONFIRM] = confirm_inbound
