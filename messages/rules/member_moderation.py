"""The member-moderation rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lists.models import Action
from members.models import Membership, Role
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
        actions = dict(
            Membership.objects.filter(
                mailing_list=mlist, role=Role.MEMBER, address__email__in=state.senders
            ).values_list("address__email", "moderation_action")
        )
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
