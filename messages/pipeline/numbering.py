"""Post numbers: each list numbers its posts 1, 2, 3, ... without gaps."""

from django.db import transaction
from django.db.models import F

from lists.models import MailingList
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
        lists = MailingList.objects.filter(pk=mlist.pk)
        lists.update(next_post_id=F("next_post_id") + 1)
        mlist.next_post_id = lists.values_list("next_post_id", flat=True).get()
        state.sequence = mlist.next_post_id - 1
    return state.sequence
