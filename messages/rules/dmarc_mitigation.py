"""The dmarc-mitigation rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lists.models import Action, DmarcMitigation
from messages.dmarc import mitigation_applies
from messages.pipeline import OnHit, Rule, register_rule
from messages.pipeline.mime import header_addresses

# The list's action, as the moderation action the chain takes on a hit.
ACTIONS = {DmarcMitigation.REJECT: Action.REJECT, DmarcMitigation.DISCARD: Action.DISCARD}


@register_rule
class DmarcMitigationRule(Rule):
    """Reject or discard a post From a domain whose DMARC policy the list
    will not carry (its dmarc_mitigate_action is reject or discard).

    The list's triggers say which policies count (messages.dmarc). A
    rejection tells the sender the list's dmarc_moderation_notice, else
    Mailman's text. The other actions, munge_from and wrap_message, are
    the dmarc handler's: for them this rule only looks the policy up and
    misses. So the lookup happens here, before the transaction that stores
    the post, and the handler, which runs while the list's row is locked,
    finds the answer in the cache (Mailman's rule likewise looks up for
    the handler).

    First in the chain, as in Mailman 3: a moderated or accepted member's
    post is refused too, since receivers would refuse its copies. A post
    a moderator released from the hold queue is not refused again.
    """

    name = "dmarc-mitigation"
    description = gettext_lazy("Reject or discard posts From domains whose DMARC policy the list does not carry.")
    on_hit = OnHit.MODERATE

    def check(self, mlist, msg, state):
        action = ACTIONS.get(mlist.dmarc_mitigate_action)
        if action is None and mlist.dmarc_mitigate_unconditionally:
            return False
        authors = header_addresses(msg, "From")
        applies = bool(authors) and mitigation_applies(mlist, authors[0])
        if action is None or not applies or state.approved:
            return False
        state.moderation_action = action
        state.moderation_sender = authors[0]
        state.reasons.append(
            mlist.dmarc_moderation_notice
            or _(
                "You are not allowed to post to this mailing list From: a domain which publishes a DMARC "
                "policy of reject or quarantine, and your message has been automatically rejected. If you "
                "think that your messages are being rejected in error, contact the mailing list owner at "
                "%(owner)s."
            )
            % {"owner": mlist.subaddress("owner")}
        )
        return True
