"""The no-subject rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import OnHit, Rule, register_rule
from messages.pipeline.mime import header_text


@register_rule
class NoSubject(Rule):
    name = "no-subject"
    description = gettext_lazy("Hold posts without a Subject.")
    on_hit = OnHit.DEFER

    def check(self, mlist, msg, state):
        if header_text(msg, "Subject"):
            return False
        state.reasons.append(_("The message has no subject"))
        return True
