"""What follows an accepted post once the transaction that stored it
commits: its delivery batches to the delivery queue, and the post to the
archive.

A post stored outside a group sends one message per batch and one archive
message. While the inbound worker processes a group of posts
(messages.dispatch), it collects them (`grouped()`) and sends them after
the group's last post: the single batches of the group's posts together,
up to BATCHES_PER_MESSAGE to a message. So the broker's and the workers'
cost per message is paid once a group, not once a post. The batches of a
post that has several (a large list) keep a message each, and with it
their spread over the workers. Then the worker archives the group's posts
itself, from the rows it holds (up to HELD_BYTES of them; the rest go to
the archive queue): they are not read from the database again, nor sent
through the broker.

Should the process die before it sends or archives them, the sweeper sends
them again (messages.sweeper), as when the broker was unreachable.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from messages.models import Post

logger = logging.getLogger(__name__)

# A message of several batches is sent by one worker, one batch after the
# other, within the actor's time limit.
BATCHES_PER_MESSAGE = 8
# The raw posts a group keeps for its archive at most (posts may be up to
# MAX_MESSAGE_SIZE each); those beyond are read again by the archive actor.
HELD_BYTES = 8 * 1024 * 1024


@dataclass
class Collected:
    batch_ids: list[int] = field(default_factory=list)
    # Posts to archive here, then (from the first beyond HELD_BYTES on, so
    # that a list's posts are still archived in order) by the archive actor.
    posts: list[Post] = field(default_factory=list)
    held_bytes: int = 0
    post_ids: list[int] = field(default_factory=list)

    def send(self, *, archive: bool) -> None:
        """Send the messages; with `archive`, archive the posts held here."""
        for start in range(0, len(self.batch_ids), BATCHES_PER_MESSAGE):
            send_batches(self.batch_ids[start : start + BATCHES_PER_MESSAGE])
        if not archive:
            self.post_ids += [post.pk for post in self.posts]
        elif self.posts:
            archive_here(self.posts)
        if self.post_ids:
            send_posts_to_archive(self.post_ids)


_collecting = threading.local()


@contextmanager
def grouped() -> Iterator[None]:
    """Collect the messages of the posts committed in this block, on this
    thread, and send them at its end; archive its posts then, unless it
    raised (a time limit, a shutdown): those go to the archive queue."""
    outer = getattr(_collecting, "group", None)
    group = _collecting.group = Collected()
    completed = False
    try:
        yield
        completed = True
    finally:
        _collecting.group = outer
        group.send(archive=completed)


def deliver_after_commit(batch_ids: list[int]) -> None:
    """Once the caller's transaction commits, have `batch_ids` (one post's) delivered."""
    from django.db import transaction

    transaction.on_commit(lambda: deliver(batch_ids))


def deliver(batch_ids: list[int]) -> None:
    group = getattr(_collecting, "group", None)
    if group is not None and len(batch_ids) == 1:
        group.batch_ids += batch_ids
        return
    from messages.delivery import nudge

    nudge(batch_ids)


def archive(post: Post) -> None:
    """Have the committed `post` archived."""
    group = getattr(_collecting, "group", None)
    if group is None:
        send_posts_to_archive([post.pk])
    elif not group.post_ids and group.held_bytes + len(post.raw) <= HELD_BYTES:
        group.posts.append(post)
        group.held_bytes += len(post.raw)
    else:
        group.post_ids.append(post.pk)


def archive_here(posts: list[Post]) -> None:
    """Archive a group's `posts` in this worker; should that fail, they go
    to the archive queue, whose actor archives those still unarchived."""
    from archive.services import archive_accepted_posts

    try:
        archive_accepted_posts(posts)
    except Exception:
        logger.exception("could not archive %d post(s); sending them to the archive queue", len(posts))
        send_posts_to_archive([post.pk for post in posts])


def send_batches(batch_ids: list[int]) -> None:
    from messages.delivery import nudge
    from messages.tasks import deliver_batches

    if len(batch_ids) == 1:
        nudge(batch_ids)
        return
    try:
        deliver_batches.send(batch_ids)
    except Exception:
        logger.exception(
            "could not send %d delivery batches to the broker; the sweeper will send them again", len(batch_ids)
        )


def send_posts_to_archive(post_ids: list[int]) -> None:
    from archive.tasks import archive_post, archive_posts

    try:
        if len(post_ids) == 1:
            archive_post.send(post_ids[0])
        else:
            archive_posts.send(post_ids)
    except Exception:
        # The posts are in the database; the sweeper sends them again.
        logger.exception(
            "could not send %d post(s) to the archive queue; the sweeper will send them again", len(post_ids)
        )
