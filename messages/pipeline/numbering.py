"""Post numbers: each list numbers its posts 1, 2, 3, ... without gaps."""

from django.db import connection, transaction
from django.db.models import F

from lists.models import MailingList
from messages.models import Post
from messages.pipeline.state import PostState


def post_number(mlist: MailingList, state: PostState) -> int:
    """The post's number on `mlist`, reserved on first use.

    Call it inside the transaction that stores the post: the UPDATE locks
    the list's row until that commits, so concurrent posts to one list take
    turns, and a rollback gives the number back.
    """
    if state.sequence is None:
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("post_number() must run inside the transaction that stores the post")
        mlist.next_post_id = take_next_post_id(mlist)
        state.sequence = mlist.next_post_id - 1
    return state.sequence


def take_next_post_id(mlist: MailingList) -> int:
    """Add one to the list's next post id and return the new value."""
    if connection.vendor in ("postgresql", "sqlite"):
        # One statement: the list's row stays locked until the commit, and
        # every post to the list waits for it, so each round trip counts.
        table = connection.ops.quote_name(MailingList._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET next_post_id = next_post_id + 1 WHERE id = %s RETURNING next_post_id",  # noqa: S608
                [mlist.pk],
            )
            return cursor.fetchone()[0]
    lists = MailingList.objects.filter(pk=mlist.pk)
    lists.update(next_post_id=F("next_post_id") + 1)
    return lists.values_list("next_post_id", flat=True).get()


def save_numbered(post: Post, mlist: MailingList, state: PostState) -> None:
    """Store the unsaved `post` under its number on `mlist` (the one
    reserved already, else the next one), inside the transaction that
    stores the post, as post_number() says. On PostgreSQL, posts are
    stored by messages.pipeline.storing in one statement unless their
    number was reserved earlier."""
    post.sequence = post_number(mlist, state)
    post.save(force_insert=True)
