"""Post numbers: each list numbers its posts 1, 2, 3, ... without gaps."""

from functools import cache

from django.db import connection, transaction
from django.db.models import F

from lists.models import MailingList
from messages.inbound import outcome_params, outcome_sql
from messages.models import InboundStatus, Post
from messages.pipeline.state import PostState
from messages.rows import insert_fields, insert_params, mark_saved


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
    stores the post, as post_number() says.

    On PostgreSQL a number not yet reserved is taken by the INSERT itself
    (one statement, so the list's row is locked one round trip less)."""
    if state.sequence is not None or connection.vendor != "postgresql":
        post.sequence = post_number(mlist, state)
        post.save(force_insert=True)
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("save_numbered() must run inside the transaction that stores the post")
    fields = insert_fields(Post)
    values = insert_params(post, fields)
    del values[fields.index(Post._meta.get_field("sequence"))]
    finishing = state.inbound_to_finish
    params = [mlist.pk, *values]
    if finishing is not None:
        params = [*outcome_params(finishing, InboundStatus.ACCEPTED), *params]
    with connection.cursor() as cursor:
        cursor.execute(numbered_insert_sql(finishing is not None), params)
        row = cursor.fetchone()
    if row is None:
        raise MailingList.DoesNotExist(f"The list {mlist} no longer exists")
    state.inbound_to_finish = None
    mark_saved(post, row[0])
    post.sequence = state.sequence = row[1]
    mlist.next_post_id = post.sequence + 1


@cache
def numbered_insert_sql(finishing_inbound: bool) -> str:
    """INSERT of a Post, taking its sequence from its list's next_post_id
    in the same statement. Parameters: the list's id, then the values of
    the other fields; with `finishing_inbound`, first those of
    messages.inbound.outcome_sql(), run in the same statement too."""
    quote = connection.ops.quote_name
    fields = insert_fields(Post)
    columns = ", ".join(quote(field.column) for field in fields)
    values = ["%s"] * len(fields)
    values[fields.index(Post._meta.get_field("sequence"))] = "number.taken"
    lists = quote(MailingList._meta.db_table)
    finished = f"finished AS ({outcome_sql()}), " if finishing_inbound else ""
    return (
        f"WITH {finished}number AS (UPDATE {lists} SET next_post_id = next_post_id + 1 WHERE id = %s"  # noqa: S608
        f" RETURNING next_post_id - 1 AS taken) INSERT INTO {quote(Post._meta.db_table)} ({columns})"
        f" SELECT {', '.join(values)} FROM number RETURNING id, {quote('sequence')}"
    )
