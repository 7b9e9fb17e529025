"""The nonmember-moderation rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lists.models import Action
from members.models import Membership, Role
from messages.pipeline import OnHit, Rule, register_rule


@register_rule
class NonmemberModeration(Rule):
    """When no sender is a member, the first sender's nonmember record
    decides (its moderation action, as moderators set it), else the list's
    default nonmember action (hold, by default)."""

    name = "nonmember-moderation"
    description = gettext_lazy("Apply the list's nonmember action to posts from nonmembers.")
    on_hit = OnHit.MODERATE

    def check(self, mlist, msg, state):
        if not state.senders:
            return False
        roles = Membership.objects.filter(mailing_list=mlist, address__email__in=state.senders)
        if roles.filter(role=Role.MEMBER).exists():
            return False
        sender = state.senders[0]
        record = roles.filter(role=Role.NONMEMBER, address__email=sender).values_list("moderation_action", flat=True)
        action = next(iter(record), "") or mlist.default_nonmember_action
        if action == Action.DEFER:
            return False
        state.moderation_action = action
        state.moderation_sender = sender
        state.reasons.append(_("The message is not from a list member"))
        return True
