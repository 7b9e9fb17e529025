"""Dramatiq actors of the members app."""

import logging

import dramatiq
from django.utils import translation

from lists.models import MailingList
from messages.tasks import COMMON

logger = logging.getLogger(__name__)


@dramatiq.actor(queue_name="delivery", time_limit=600_000, **COMMON)
def send_membership_mails(list_id: int, kind: str, emails: list[str], language: str | None = None) -> None:
    """A mass change's welcome or goodbye mails (members.notices.send_later),
    best effort as each of them is: a mail that cannot be sent is logged."""
    from members.notices import send_now

    mlist = MailingList.objects.select_related("domain").filter(pk=list_id).first()
    if mlist is None:
        logger.info("List %s is gone; its %d %s mails are not sent", list_id, len(emails), kind)
        return
    with translation.override(language):
        send_now(mlist, kind, emails)
