"""Dramatiq actors of the archive. The post row says what is left to do: a
post of an archived list with no archived message is re-sent by the
sweeper (messages.sweeper) when its nudge was lost."""

import logging

import dramatiq
from django.db import transaction

from lists.models import ArchivePolicy
from messages.models import Post
from messages.tasks import COMMON

logger = logging.getLogger(__name__)


@dramatiq.actor(queue_name="archive", time_limit=300_000, **COMMON)
def archive_post(post_id: int) -> None:
    from archive.services import archive_stored_post

    archive_stored_post(post_id)


def archive_on_commit(post: Post) -> None:
    """Once the transaction accepting `post` commits, send it to the archive,
    unless its list is not archived. Call it inside that transaction."""
    if post.mailing_list.archive_policy != ArchivePolicy.NEVER:
        transaction.on_commit(lambda: send_to_archive(post.pk))


def send_to_archive(post_id: int) -> None:
    try:
        archive_post.send(post_id)
    except Exception:
        # The post is in the database; the sweeper sends it again.
        logger.exception("could not send post %d to the archive queue; the sweeper will send it again", post_id)
