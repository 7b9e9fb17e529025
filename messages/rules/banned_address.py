"""The banned-address rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.list_configuration import configuration_of
from messages.pipeline import OnHit, Rule, register_rule


@register_rule
class BannedAddress(Rule):
    name = "banned-address"
    description = gettext_lazy("Discard posts from addresses banned from the list or the site.")
    on_hit = OnHit.DISCARD

    def check(self, mlist, msg, state):
        bans = configuration_of(mlist, state).bans
        for sender in state.senders:
            if sender in bans:
                state.reasons.append(_("Message sender %(sender)s is banned from this list") % {"sender": sender})
                return True
        return False
