"""The nonmember-moderation rule."""

import logging

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lists.models import Action, MailingList
from members.models import Membership, Role
from members.services import AlreadySubscribed, InvalidAddress, subscribe
from messages.pipeline import OnHit, Rule, register_rule

logger = logging.getLogger(__name__)


@register_rule
class NonmemberModeration(Rule):
    """When no sender is a member, the first sender's nonmember record
    decides (its moderation action, as moderators set it), else the list's
    default nonmember action (hold, by default).

    As in Mailman, a first sender the list has never seen gets a nonmember
    record here, so that moderators find the address and can set its action
    for the next post. (Mailman records every sender; the envelope sender
    is often a per-message bounce address, so only the one who decides is
    recorded.) The list model has no accept/hold/reject/discard_these_nonmembers.
    """

    name = "nonmember-moderation"
    description = gettext_lazy("Apply the list's nonmember action to posts from nonmembers.")
    on_hit = OnHit.MODERATE

    def check(self, mlist, msg, state):
        if not state.senders:
            return False
        records = Membership.objects.filter(
            mailing_list=mlist, address__email__in=state.senders, role__in=(Role.MEMBER, Role.NONMEMBER)
        ).values_list("address__email", "role", "moderation_action")
        actions = {}
        for email, role, action in records:
            if role == Role.MEMBER:
                return False
            actions[email] = action
        sender = state.senders[0]
        if sender not in actions:
            record_nonmember(mlist, sender)
        action = actions.get(sender) or mlist.default_nonmember_action
        if action == Action.DEFER:
            return False
        state.moderation_action = action
        state.moderation_sender = sender
        state.reasons.append(_("The message is not from a list member"))
        return True


def record_nonmember(mlist: MailingList, email: str) -> None:
    """Give `email` a nonmember record on `mlist` unless it has one. Safe to
    run again (a post retried) and from two workers at once: the unique
    membership constraint lets one insert win and the other finds it."""
    try:
        subscribe(mlist, email, role=Role.NONMEMBER)
    except AlreadySubscribed:
        pass
    except InvalidAddress as exc:
        # A sender no Address can hold (too long, malformed) is moderated all the same.
        logger.info("No nonmember record for %r on %s: %s", email, mlist, exc)
