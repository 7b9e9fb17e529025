"""The spam rule."""

import logging
from email.message import EmailMessage

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lists.models import Action, MailingList
from messages.pipeline import OnHit, PostState, Rule, register_rule
from messages.pipeline.mime import message_bytes
from messages.spamd import SpamdClient, SpamdError, SpamVerdict, verdict_from_headers

logger = logging.getLogger(__name__)


@register_rule
class Spam(Rule):
    """SpamAssassin scores the post: at or over the list's discard score it
    is discarded, at or over its hold score held.

    The score comes from the X-Spam-Status / X-Spam-Score headers when the
    site trusts its MTA to have added them (TRUST_MTA_SPAM_HEADERS), else
    from spamd at SPAMD_URL; with neither the rule misses. Posts larger
    than SPAMD_MAX_SIZE are not sent to spamd. When spamd gives no answer
    within SPAMD_TIMEOUT, SPAMD_DOWN_ACTION decides: "accept" lets the post
    go on, anything else holds it, so a post is never lost or kept waiting.
    """

    name = "spam"
    description = gettext_lazy("Hold or discard posts that SpamAssassin scores as spam.")
    on_hit = OnHit.MODERATE

    def check(self, mlist, msg, state):
        if mlist.spam_hold_score is None and mlist.spam_discard_score is None:
            return False
        verdict = verdict_from_headers(msg) if settings.TRUST_MTA_SPAM_HEADERS else None
        if verdict is None:
            if not settings.SPAMD_URL:
                return False
            if state.size > settings.SPAMD_MAX_SIZE:
                logger.info("Inbound %s not checked for spam: larger than SPAMD_MAX_SIZE", state.inbound_id)
                return False
            try:
                verdict = ask_spamd(msg)
            except SpamdError as exc:
                return spam_check_unavailable(state, exc)
        action = action_for(mlist, verdict.score)
        if action is None:
            return False
        state.moderation_action = action
        state.reasons.append(describe_verdict(verdict))
        return True


def ask_spamd(msg: EmailMessage) -> SpamVerdict:
    try:
        raw = message_bytes(msg)
    except Exception as exc:
        # The email package raises assorted errors on messages it parsed
        # but cannot write out again; that is no reason to lose the post.
        raise SpamdError(f"the message could not be written out for spamd: {type(exc).__name__}: {exc}") from exc
    return SpamdClient(settings.SPAMD_URL, settings.SPAMD_TIMEOUT).check(raw)


def action_for(mlist: MailingList, score: float) -> str | None:
    """Discard, hold or nothing, by the list's scores."""
    if mlist.spam_discard_score is not None and score >= mlist.spam_discard_score:
        return Action.DISCARD
    if mlist.spam_hold_score is not None and score >= mlist.spam_hold_score:
        return Action.HOLD
    return None


def spam_check_unavailable(state: PostState, error: SpamdError) -> bool:
    held = settings.SPAMD_DOWN_ACTION != "accept"
    logger.warning(
        "Spam check unavailable for inbound %s, %s (SPAMD_DOWN_ACTION): %s",
        state.inbound_id,
        "held" if held else "accepted",
        error,
    )
    if held:
        state.moderation_action = Action.HOLD
        state.reasons.append(_("Spam check unavailable: %(error)s") % {"error": error})
    return held


def describe_verdict(verdict: SpamVerdict) -> str:
    """The reason a person reads: "SpamAssassin scored it 1000.0 (GTUBE)"."""
    values = {"score": f"{verdict.score:.1f}", "rules": ", ".join(verdict.rules), "header": verdict.source}
    if verdict.source == "spamd":
        if verdict.rules:
            return _("SpamAssassin scored it %(score)s (%(rules)s)") % values
        return _("SpamAssassin scored it %(score)s") % values
    if verdict.rules:
        return (
            _("SpamAssassin at the site's mail server scored it %(score)s (%(rules)s), in its %(header)s header")
            % values
        )
    return _("SpamAssassin at the site's mail server scored it %(score)s, in its %(header)s header") % values
