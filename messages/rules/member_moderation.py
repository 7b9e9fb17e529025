"""The member-moderation rule."""

from functools import cache

from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lists.models import Action
from members.models import Address, Membership, Role
from messages import prepared
from messages.pipeline import OnHit, Rule, register_rule


@register_rule
class MemberModeration(Rule):
    """The first sender who is a member decides: their own moderation action,
    else the list's default member action. "defer" lets the remaining
    rules decide; any other action is taken at once."""

    name = "member-moderation"
    description = gettext_lazy("Apply the moderation action of a member who posts.")
    on_hit = OnHit.MODERATE

    def check(self, mlist, msg, state):
        actions = state.member_actions
        if actions is None:
            actions = moderation_actions(mlist.pk, state.senders)
        for sender in state.senders:
            if sender not in actions:
                continue
            action = actions[sender] or mlist.default_member_action
            if action == Action.DEFER:
                return False
            state.moderation_action = action
            state.moderation_sender = sender
            state.reasons.append(_("The message comes from a moderated member"))
            return True
        return False


def moderation_actions(list_id: int, senders: list[str]) -> dict[str, str]:
    """The moderation action ("" for the list's default) of each of
    `senders` (lower-case addresses) who is a member of the list `list_id`."""
    if not senders:
        return {}
    # Every post asks this: SQL written once per number of senders rather
    # than compiled by the ORM each time.
    with prepared.cursor() as cursor:
        cursor.execute(moderation_actions_sql(len(senders)), [list_id, Role.MEMBER.value, *senders])
        return dict(cursor.fetchall())


@cache
def moderation_actions_sql(senders: int) -> str:
    quote = connection.ops.quote_name
    return (
        f"SELECT address.{quote('email')}, membership.moderation_action"  # noqa: S608
        f" FROM {quote(Membership._meta.db_table)} membership"
        f" JOIN {quote(Address._meta.db_table)} address ON address.id = membership.address_id"
        f" WHERE membership.mailing_list_id = %s AND membership.role = %s"
        f" AND address.{quote('email')} IN ({', '.join(['%s'] * senders)})"
    )
