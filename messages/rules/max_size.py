"""The max-size rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import OnHit, Rule, register_rule


@register_rule
class MaxSize(Rule):
    name = "max-size"
    description = gettext_lazy("Hold posts larger than the list's size limit.")
    on_hit = OnHit.DEFER

    def check(self, mlist, msg, state):
        # max_message_size is in KB; 0 means no limit.
        if mlist.max_message_size == 0 or state.size <= mlist.max_message_size * 1024:
            return False
        state.reasons.append(
            _("The message's size exceeds the list's limit of %(limit)d KB") % {"limit": mlist.max_message_size}
        )
        return True
