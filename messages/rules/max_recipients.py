"""The max-recipients rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import OnHit, Rule, register_rule
from messages.pipeline.mime import header_addresses


@register_rule
class MaxRecipients(Rule):
    name = "max-recipients"
    description = gettext_lazy("Hold posts with too many explicit recipients.")
    on_hit = OnHit.DEFER

    def check(self, mlist, msg, state):
        # 0 means no limit; like Mailman, reaching the limit is enough.
        if mlist.max_num_recipients == 0:
            return False
        if len(header_addresses(msg, "To", "Cc")) < mlist.max_num_recipients:
            return False
        state.reasons.append(_("The message has %(limit)d or more recipients") % {"limit": mlist.max_num_recipients})
        return True
