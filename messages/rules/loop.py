"""The loop rule."""

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import OnHit, Rule, register_rule
from messages.pipeline.mime import raw_headers

ANGLE_BRACKETED = re.compile(r"<([^<>]*)>")


@register_rule
class Loop(Rule):
    """We have posted this message before: our X-BeenThere (added by the
    cook-headers handler) or our RFC 2919 List-Id is on it."""

    name = "loop"
    description = gettext_lazy("Discard a message this list has already posted.")
    on_hit = OnHit.DISCARD

    def check(self, mlist, msg, state):
        been_there = {value.strip().lower() for value in raw_headers(msg, "X-BeenThere")}
        list_ids = {list_id_of(value) for value in raw_headers(msg, "List-Id")}
        if mlist.posting_address.lower() not in been_there and mlist.list_id.lower() not in list_ids:
            return False
        state.reasons.append(_("The message has already been posted to this list"))
        return True


def list_id_of(value: str) -> str:
    """The list-id of a List-Id header value: the part in angle brackets (RFC 2919 section 3)."""
    match = ANGLE_BRACKETED.search(value)
    return (match.group(1) if match else value).strip().lower()
