"""Deleting a message from a list's archive, as its owners may.

The thread is repaired as HyperKitty repairs it: the message's replies move
up to its parent, the thread's root becomes its earliest remaining message
without a parent, its counts and dates are recounted, and a thread left
empty goes. The Reference rows other messages hold to the deleted one stay:
they keep its replies in one thread, as they do for any message that was
never archived. Search indexes follow the row's post_delete signal.
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Max, Min

from api.permissions import Caller
from archive.models import ArchivedMessage, ListArchive, Thread, WithdrawnPost
from archive.services import lock_archive
from mailman_site.events import emit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deleted:
    # The thread the message was in; None when it went with its last message.
    thread: Thread | None
    replies_moved: int


def delete_message(message: ArchivedMessage, *, deleted_by: Caller | None = None) -> Deleted | None:
    """Delete `message` from its list's archive and repair its thread, in one
    transaction under the list's archive lock. None when it was gone already."""
    mlist = message.mailing_list
    with transaction.atomic():
        archive = lock_archive(mlist)
        message = ArchivedMessage.objects.filter(pk=message.pk).first()
        if message is None:
            return None
        thread = Thread.objects.get(pk=message.thread_id)
        replies_moved = ArchivedMessage.objects.filter(parent=message).update(parent=message.parent_id)
        if message.post_id is not None:
            WithdrawnPost.objects.get_or_create(post_id=message.post_id)
        message.delete()
        kept = repair_thread(thread)
        ListArchive.objects.filter(pk=archive.pk).update(
            message_count=F("message_count") - 1, thread_count=F("thread_count") - int(kept is None)
        )
        emit(
            "archived_message_deleted",
            mailing_list=mlist,
            message_id=message.message_id,
            message_id_hash=message.message_id_hash,
            deleted_by=deleted_by,
        )
    logger.info(
        "%s deleted <%s> (%s) from the archive of %s",
        deleted_by.get_username() if deleted_by is not None and deleted_by.is_authenticated else "Someone",
        message.message_id,
        message.message_id_hash,
        mlist,
    )
    return Deleted(kept, replies_moved)


def repair_thread(thread: Thread) -> Thread | None:
    """Recount `thread` after a message left it; delete it when it is empty."""
    messages = ArchivedMessage.objects.filter(thread=thread)
    figures = messages.aggregate(started=Min("date"), last=Max("date"))
    if figures["started"] is None:
        thread.delete()
        return None
    root = messages.filter(parent=None).order_by("date", "pk").only("pk", "subject").first()
    if root is None:
        # Every message has a parent in another thread (never made by threading): take the earliest.
        root = messages.order_by("date", "pk").only("pk", "subject").first()
    thread.root, thread.subject = root, root.subject
    thread.message_count = messages.count()
    thread.participant_count = (
        messages.exclude(sender_address="").values("sender_address").distinct().order_by().count()
    )
    thread.started_at, thread.last_activity = figures["started"], figures["last"]
    thread.save(update_fields=["root", "subject", "message_count", "participant_count", "started_at", "last_activity"])
    return thread
