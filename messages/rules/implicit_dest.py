"""The implicit-dest rule."""

import logging
import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import OnHit, Rule, register_rule
from messages.pipeline.mime import header_addresses

logger = logging.getLogger(__name__)

DESTINATION_HEADERS = ("To", "Cc", "Resent-To", "Resent-Cc")


@register_rule
class ImplicitDestination(Rule):
    """The list is reached through a Bcc or an alias it does not know: the
    posting address and the acceptable aliases (an address, or a `^regex`,
    a line) are all missing from the destination headers."""

    name = "implicit-dest"
    description = gettext_lazy("Hold posts that do not name the list as a recipient.")
    on_hit = OnHit.DEFER

    def check(self, mlist, msg, state):
        if not mlist.require_explicit_destination:
            return False
        recipients = header_addresses(msg, *DESTINATION_HEADERS)
        aliases = {mlist.posting_address.lower()}
        patterns = []
        for line in mlist.acceptable_aliases.splitlines():
            line = line.strip()
            if line.startswith("^"):
                patterns.append(line)
            elif line:
                aliases.add(line.lower())
        if aliases.intersection(recipients):
            return False
        if any(matches(pattern, recipient) for pattern in patterns for recipient in recipients):
            return False
        state.reasons.append(_("Message has implicit destination"))
        return True


def matches(pattern: str, address: str) -> bool:
    try:
        return re.match(pattern, address, re.IGNORECASE) is not None
    except re.error:
        # Mailman retries a malformed expression escaped, which can never match
        # an address once the caret is escaped; say so instead.
        logger.warning("Malformed acceptable alias pattern %r ignored", pattern)
        return False
