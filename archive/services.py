"""Archiving a message: read it, thread it, store it, once.

`archive_message` is the one way in, for posts (through the archive_post
actor) and imports alike. It is idempotent by the list and Message-ID and
never raises on bad input: a message that cannot be read is stored all the
same, marked broken with its error, for an admin to see.
"""

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from archive.models import ArchivedMessage, ArchiveNudge, Attachment, ListArchive, WithdrawnPost
from archive.reading import ReadMessage, content_message_id, message_id_hash, read_message
from archive.search_indexing import index_on_commit
from archive.threading import Placed, place
from lists.models import ArchivePolicy, MailingList
from messages.models import Post
from messages.pipeline.mime import clean_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Archived:
    message: ArchivedMessage
    # False when the message was in the archive already.
    created: bool


def archive_message(
    mlist: MailingList, raw: bytes, *, post: Post | None = None, received_at: datetime | None = None
) -> Archived:
    """Archive `raw` in `mlist`'s archive, unless a message with its
    Message-ID is there already (then that one is returned, linked to
    `post` if it had no post). A message without a Message-ID gets one
    derived from its content; a second post under a Message-ID already
    archived for another post is kept under such a derived one too.

    `received_at` stands in for a missing or unbelievable Date: (default: now).
    """
    raw = bytes(raw)
    read = read_message(raw, received_at or timezone.now())
    with transaction.atomic():
        archive = lock_archive(mlist)
        existing = find_message(mlist, read.message_id)
        if existing is not None and post is not None and existing.post_id not in (None, post.pk):
            read.message_id = content_message_id(raw)
            existing = find_message(mlist, read.message_id)
        if existing is not None:
            if post is not None and existing.post_id is None:
                existing.post = post
                existing.save(update_fields=["post"])
            return Archived(existing, created=False)
        message, placed = store(mlist, raw, read, post)
        ListArchive.objects.filter(pk=archive.pk).update(
            message_count=F("message_count") + 1,
            thread_count=F("thread_count") + int(placed.new_thread) - placed.threads_merged,
        )
    if read.error:
        logger.warning("Archived a broken message in %s: %s", mlist, read.error)
    return Archived(message, created=True)


def lock_archive(mlist: MailingList) -> ListArchive:
    """The list's archive row, locked until the transaction ends: messages
    are threaded into a list one at a time. (Not the list's own row, which
    the mail path locks to number posts.)"""
    archive = ListArchive.objects.select_for_update().filter(mailing_list=mlist).first()
    if archive is None:
        ListArchive.objects.get_or_create(mailing_list=mlist)
        archive = ListArchive.objects.select_for_update().get(mailing_list=mlist)
    return archive


def find_message(mlist: MailingList, message_id: str) -> ArchivedMessage | None:
    return ArchivedMessage.objects.filter(mailing_list=mlist, message_id_hash=message_id_hash(message_id)).first()


def store(mlist: MailingList, raw: bytes, read: ReadMessage, post: Post | None) -> tuple[ArchivedMessage, Placed]:
    message = archived_row(mlist, raw, read, post)
    placed = place(message, read.references)
    Attachment.objects.bulk_create(attachment_rows(message, read))
    return message, placed


def archived_row(mlist: MailingList, raw: bytes, read: ReadMessage, post: Post | None) -> ArchivedMessage:
    """The unsaved row of `raw` as read, unthreaded."""
    return ArchivedMessage(
        mailing_list=mlist,
        post=post,
        message_id=read.message_id[:998],
        message_id_hash=message_id_hash(read.message_id),
        sender_name=read.sender_name,
        sender_address=read.sender_address,
        subject=read.subject,
        date=read.date,
        in_reply_to=read.in_reply_to,
        references=" ".join(read.references),
        body=read.body,
        raw=raw,
        size=len(raw),
        is_broken=bool(read.error),
        error=read.error,
    )


def attachment_rows(message: ArchivedMessage, read: ReadMessage) -> list[Attachment]:
    return [
        Attachment(
            message=message,
            counter=counter,
            filename=part.filename,
            content_type=clean_text(part.content_type),
            size=len(part.content),
            content=part.content,
        )
        for counter, part in enumerate(read.attachments, start=1)
    ]


def archive_stored_post(post_id: int) -> ArchivedMessage | None:
    """Archive the accepted post `post_id` as it was stored; None when it is
    gone or its list is not archived. Safe to call twice."""
    archived = archive_post_unindexed(post_id)
    if archived is not None and not archived.indexed:
        index_on_commit([archived.pk])
    return archived


def archive_stored_posts(post_ids: Sequence[int]) -> None:
    """archive_stored_post for each of a group's posts (the archive_posts
    actor), in post number order, with a handful of queries for the group
    rather than a score per post, sending their messages to the index
    together. One that fails does not stop the others; the first error is
    raised at the end."""
    posts = posts_to_archive(post_ids)
    already = [post for post in posts if post.archived_pk is not None]
    archived, error = archive_new_posts([post for post in posts if post.archived_pk is None])
    done = {post.pk for post in already} | {post_id for post_id, _message in archived}
    # Only a post the sweeper sent again has a nudge to forget.
    nudged = [post.pk for post in posts if post.nudged is not None and post.pk in done]
    if nudged:
        ArchiveNudge.objects.filter(post__in=nudged).delete()
    index_on_commit(
        [post.archived_pk for post in already if not post.archived_indexed]
        + [message.pk for _post_id, message in archived if not message.indexed]
    )
    if error is not None:
        raise error


def archive_accepted_posts(posts: Sequence[Post]) -> None:
    """Archive the posts the calling worker has just accepted (none archived
    yet, of archived lists), from the rows it holds rather than read again,
    as archive_stored_posts would, and send them to the index. One that
    fails does not stop the others; the first error is raised at the end."""
    archived, error = archive_new_posts(posts)
    index_on_commit([message.pk for _post_id, message in archived if not message.indexed])
    if error is not None:
        raise error


def archive_new_posts(posts: Sequence[Post]) -> tuple[list[tuple[int, ArchivedMessage]], Exception | None]:
    """archive_list_posts for the posts of each list among `posts`, none
    archived yet: (post id, message) of those archived, and the first error."""
    by_list: dict[int, list[Post]] = {}
    for post in posts:
        by_list.setdefault(post.mailing_list_id, []).append(post)
    archived: list[tuple[int, ArchivedMessage]] = []
    error: Exception | None = None
    for list_posts in by_list.values():
        list_archived, list_error = archive_list_posts(list_posts[0].mailing_list, list_posts)
        archived += list_archived
        error = error or list_error
    return archived, error


def posts_to_archive(post_ids: Sequence[int]) -> list[Post]:
    """The posts of `post_ids` to archive, by list and post number: not gone,
    of an archived list, not withdrawn by an owner. Each has the id of its
    archived message (`archived_pk`, None when there is none yet), whether
    that is indexed (`archived_indexed`) and whether the sweeper sent it
    again (`nudged`, None when not); the posts of a list share one instance
    of its row. Two queries."""
    posts = list(
        Post.objects.filter(pk__in=post_ids)
        .annotate(
            archived_pk=F("archived__pk"),
            archived_indexed=F("archived__indexed"),
            withdrawn=F("archive_withdrawal__post_id"),
            nudged=F("archive_nudge__post_id"),
        )
        .order_by("mailing_list", "sequence")
    )
    for post_id in set(post_ids) - {post.pk for post in posts}:
        logger.info("Post %s is gone; not archived", post_id)
    lists = MailingList.objects.in_bulk({post.mailing_list_id for post in posts})
    kept = []
    for post in posts:
        mlist = lists.get(post.mailing_list_id)
        if mlist is None or mlist.archive_policy == ArchivePolicy.NEVER:
            # Deleted (with its posts) since they were read, or not archived.
            continue
        post.mailing_list = mlist
        if post.withdrawn is not None:
            logger.info("Post %s was deleted from the archive by an owner; not archived again", post.pk)
            continue
        kept.append(post)
    return kept


def archive_list_posts(
    mlist: MailingList, posts: Sequence[Post]
) -> tuple[list[tuple[int, ArchivedMessage]], Exception | None]:
    """Archive `posts` of `mlist`, none archived yet, in order: runs of them
    in one transaction each (archive.bulk_import), one by one those whose
    Message-ID is archived already or twice among them (archive_message's
    rules for posts), and one by one a run whose transaction failed.
    Returns (post id, message) of those archived and the first error."""
    from archive.bulk_import import archive_read_messages  # it imports this module

    reads = [(bytes(post.raw), read_message(bytes(post.raw), post.created_at)) for post in posts]
    hashes = [message_id_hash(read.message_id) for _raw, read in reads]
    taken = set(
        ArchivedMessage.objects.filter(mailing_list=mlist, message_id_hash__in=set(hashes)).values_list(
            "message_id_hash", flat=True
        )
    )
    taken.update(message_hash for message_hash, count in Counter(hashes).items() if count > 1)
    archived: list[tuple[int, ArchivedMessage]] = []
    error: Exception | None = None
    for alone, group in groupby(zip(posts, reads, hashes, strict=True), key=lambda entry: entry[2] in taken):
        entries = list(group)
        run = [(post, raw) for post, (raw, _read), _hash in entries]
        if not alone:
            try:
                results = archive_read_messages(
                    mlist, [read for _post, read, _hash in entries], [post for post, _raw in run]
                )
            except Exception:
                logger.exception("Archiving %d posts of %s together failed; trying one by one", len(run), mlist)
            else:
                archived += [
                    (post.pk, result.message)
                    for (post, _raw), result in zip(run, results, strict=True)
                    if result.created
                ]
                # Archived by another worker since `taken` was read: the rules for posts apply.
                run = [item for item, result in zip(run, results, strict=True) if not result.created]
        for post, raw in run:
            try:
                archived.append((post.pk, archive_message(mlist, raw, post=post, received_at=post.created_at).message))
            except Exception as exc:
                error = error or exc
    return archived, error


def archive_post_unindexed(post_id: int) -> ArchivedMessage | None:
    post = Post.objects.select_related("mailing_list").filter(pk=post_id).first()
    if post is None:
        logger.info("Post %s is gone; not archived", post_id)
        return None
    if post.mailing_list.archive_policy == ArchivePolicy.NEVER:
        return None
    if WithdrawnPost.objects.filter(post=post).exists():
        logger.info("Post %s was deleted from the archive by an owner; not archived again", post_id)
        return None
    archived = ArchivedMessage.objects.filter(post=post).first()
    if archived is None:
        archived = archive_message(post.mailing_list, post.raw, post=post, received_at=post.created_at).message
    ArchiveNudge.objects.filter(post=post).delete()
    return archived
