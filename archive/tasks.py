"""Dramatiq actors of the archive. The rows say what is left to do: a post
of an archived list with no archived message, and an archived message not
marked indexed, are re-sent by the sweeper (messages.sweeper) when their
nudge was lost."""

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


@dramatiq.actor(queue_name="archive", time_limit=300_000, **COMMON)
def archive_posts(post_ids: list[int]) -> None:
    """archive_post for each of a group's posts (messages.nudges), archived
    together (archive.services.archive_stored_posts)."""
    from archive.services import archive_stored_posts

    archive_stored_posts(post_ids)


@dramatiq.actor(queue_name="archive", time_limit=300_000, **COMMON)
def index_archived(message_ids: list[int]) -> None:
    from archive.search_indexing import index_messages

    index_messages(message_ids)


@dramatiq.actor(queue_name="archive", time_limit=300_000, **COMMON)
def unindex_archived(message_ids: list[int]) -> None:
    from archive.search_indexing import remove_from_index

    remove_from_index(message_ids)


def archive_on_commit(post: Post) -> None:
    """Once the transaction accepting `post` commits, send it to the archive,
    unless its list is not archived. Call it inside that transaction."""
    from messages import nudges

    if post.mailing_list.archive_policy != ArchivePolicy.NEVER:
        transaction.on_commit(lambda: nudges.archive(post))
