"""The no-senders rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import OnHit, Rule, register_rule


@register_rule
class NoSenders(Rule):
    name = "no-senders"
    description = gettext_lazy("Discard a message that names no sender at all.")
    on_hit = OnHit.DISCARD

    def check(self, mlist, msg, state):
        if state.senders:
            return False
        state.reasons.append(_("The message has no valid senders"))
        return True
