"""Storing an accepted post: to-archive stages it on the PostState and
to-outgoing asks for its delivery; the dispatcher stores both once the
handlers are done (store_staged).

On PostgreSQL one statement takes the list's next number, stores the post,
marks its inbound row accepted and stores its delivery batches; when the
handlers wrote nothing before it, it runs as a transaction of its own. The
list's row, which every post to the list waits for, is then locked for one
statement and its commit, not for a transaction's BEGIN, statements,
handlers and COMMIT.
"""

from dataclasses import dataclass
from functools import cache

from django.db import connection

from archive.tasks import archive_on_commit
from lists.models import MailingList
from mailman_site.events import emit
from messages import nudges, prepared
from messages.inbound import outcome_params, outcome_sql
from messages.models import InboundStatus, Post
from messages.pipeline.numbering import save_numbered
from messages.pipeline.state import PostState
from messages.rows import insert_fields, insert_params, mark_saved


@dataclass
class StagedPost:
    """A post to-archive made, not stored yet, and whether it is delivered."""

    post: Post
    mlist: MailingList
    deliver: bool = False


def stage(state: PostState, mlist: MailingList, post: Post) -> None:
    """Have the unsaved `post` stored under its number on `mlist` once the
    handlers are done; later handlers find it in `state.post` (without a
    primary key until then)."""
    state.staged = StagedPost(post, mlist)
    state.post = post


def stage_delivery(state: PostState) -> bool:
    """Have the staged post delivered too; False when there is none (the post is stored already)."""
    if state.staged is None or state.staged.post is not state.post:
        return False
    state.staged.deliver = True
    return True


def stores_alone(state: PostState) -> bool:
    """Whether the staged post can be stored by a statement of its own, after
    the handlers' transaction: PostgreSQL, nothing sent in that transaction
    yet (no number reserved, no row written, nothing waiting for its commit)."""
    if state.staged is None or state.sequence is not None or connection.vendor != "postgresql":
        return False
    from psycopg.pq import TransactionStatus

    raw = connection.connection
    return raw is not None and raw.info.transaction_status == TransactionStatus.IDLE and not connection.run_on_commit


def store_staged(state: PostState) -> None:
    """Store the staged post, if any, and its delivery when asked: in the
    caller's transaction, or alone when stores_alone() said so. Its inbound
    row (state.inbound_to_finish) is marked accepted by the same statement
    on PostgreSQL. Then the post is announced and sent to the archive, and
    its batches to the workers, once that commits."""
    staged, state.staged = state.staged, None
    if staged is None:
        return
    post = staged.post
    if state.sequence is None and connection.vendor == "postgresql":
        batch_ids = store_in_one_statement(post, staged.mlist, state, deliver=staged.deliver)
        if staged.deliver:
            nudges.deliver_after_commit(batch_ids)
    else:
        save_numbered(post, staged.mlist, state)
        if staged.deliver:
            # Imported here: delivery imports the handlers, which import this module.
            from messages.delivery import enqueue_post

            enqueue_post(post)
    posted(post)


def posted(post: Post) -> None:
    """What follows a stored post, once it commits: the message_posted event and the archive."""
    emit("message_posted", post=post)
    archive_on_commit(post)


def store_in_one_statement(post: Post, mlist: MailingList, state: PostState, *, deliver: bool) -> list[int]:
    """store_staged's statement on PostgreSQL; returns the batches' ids, in order."""
    # Imported here: delivery imports the handlers, which import this module.
    from messages.delivery import batch_params, snapshot_params

    fields = insert_fields(Post)
    computed = computed_post_fields(deliver)
    values = [
        value for field, value in zip(fields, insert_params(post, fields), strict=True) if field.name not in computed
    ]
    finishing = state.inbound_to_finish
    params = [mlist.pk]
    if finishing is not None:
        params += outcome_params(finishing, InboundStatus.ACCEPTED)
    if deliver:
        params += snapshot_params(post)
    params += values
    if deliver:
        params += batch_params(post)
    with prepared.cursor() as cursor:
        cursor.execute(stored_post_sql(finishing is not None, deliver), params)
        row = cursor.fetchone()
    if row is None:
        raise MailingList.DoesNotExist(f"The list {mlist} no longer exists")
    state.inbound_to_finish = None
    pk, post.sequence, post.recipient_count, batch_ids = row
    mark_saved(post, pk)
    state.sequence = post.sequence
    mlist.next_post_id = post.sequence + 1
    return sorted(batch_ids)


def computed_post_fields(deliver: bool) -> dict[str, str]:
    """The Post columns stored_post_sql() computes: name -> expression."""
    computed = {"sequence": "number.taken"}
    if deliver:
        computed["recipient_count"] = "(SELECT count(*) FROM recipients)"
    return computed


@cache
def stored_post_sql(finishing_inbound: bool, deliver: bool) -> str:
    """store_in_one_statement's statement. Parameters: the list's id; with
    `finishing_inbound`, outcome_params(); with `deliver`,
    delivery.snapshot_params(); the values of the Post columns it does not
    compute; with `deliver`, delivery.batch_params(). It returns one row
    (the post's id, sequence, recipient count and batch ids), or none when
    the list is gone, and then changes nothing."""
    from messages.delivery import batches_sql, recipients_sql

    quote = connection.ops.quote_name
    lists = quote(MailingList._meta.db_table)
    fields = insert_fields(Post)
    computed = computed_post_fields(deliver)
    values = ", ".join(computed.get(field.name, "%s") for field in fields)
    ctes = [
        f"number AS (UPDATE {lists} SET next_post_id = next_post_id + 1 WHERE id = %s"  # noqa: S608
        " RETURNING next_post_id - 1 AS taken)"
    ]
    if finishing_inbound:
        # outcome_sql() ends in its WHERE clause; no number, no outcome.
        ctes.append(f"finished AS ({outcome_sql()} AND EXISTS (SELECT FROM number))")
    if deliver:
        ctes.append(f"recipients AS ({recipients_sql()})")
    ctes.append(
        f"stored AS (INSERT INTO {quote(Post._meta.db_table)} ({', '.join(quote(field.column) for field in fields)})"  # noqa: S608
        f" SELECT {values} FROM number RETURNING id, {quote('sequence')}, recipient_count)"
    )
    batch_ids = "ARRAY[]::bigint[]"
    if deliver:
        ctes.append(batches_sql("stored"))
        batch_ids = "ARRAY(SELECT id FROM batches)"
    return f"WITH {', '.join(ctes)} SELECT id, {quote('sequence')}, recipient_count, {batch_ids} FROM stored"  # noqa: S608
