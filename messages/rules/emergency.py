"""The emergency rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import OnHit, Rule, register_rule


@register_rule
class Emergency(Rule):
    name = "emergency"
    description = gettext_lazy("Hold every post while the list is under emergency moderation.")
    on_hit = OnHit.HOLD

    def check(self, mlist, msg, state):
        if not mlist.emergency or state.approved:
            return False
        state.reasons.append(_("Emergency moderation is in effect for this list"))
        return True
