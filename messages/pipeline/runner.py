"""Running a chain of rules to a decision, and a pipeline of handlers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING

from messages.pipeline.registry import chain_for, get_handler, get_rule, pipeline_for
from messages.pipeline.state import Decision, Disposal, OnHit, PostState

if TYPE_CHECKING:
    from lists.models import MailingList

logger = logging.getLogger(__name__)


class PostEnded(Exception):
    """Raised by a handler to end an accepted post before it is stored
    (Mailman's DiscardMessage and RejectMessage).

    What the handlers did so far is rolled back, and messages.dispatch
    takes the `disposal` with `reason`, a sentence for people (the sender
    of a rejected post reads it).
    """

    def __init__(self, disposal: Disposal, reason: str):
        super().__init__(reason)
        self.disposal = Disposal(disposal)
        self.reason = reason
        # The name of the handler that raised it, filled in by run_handlers.
        self.handler = ""


def run_chain(mlist: MailingList, msg: EmailMessage, state: PostState, chain: Sequence[str] | None = None) -> Decision:
    """Check the rules of `chain` (the list's chain by default) in order.

    The first hit whose `on_hit` is terminal decides; a deferred hit is
    noted and the chain goes on, and holds after the last rule. With no
    hit the post is accepted. The decision is also left in `state.decision`.
    """
    deferred = False
    decision = None
    for name in chain_for(mlist) if chain is None else chain:
        rule = get_rule(name)
        if not rule.check(mlist, msg, state):
            state.rule_misses.append(name)
            continue
        state.rule_hits.append(name)
        if rule.on_hit is OnHit.DEFER:
            deferred = True
        elif rule.on_hit is OnHit.MODERATE:
            decision = Decision(state.moderation_action)
            break
        else:
            decision = Decision(rule.on_hit.value)
            break
    if decision is None:
        decision = Decision.HOLD if deferred else Decision.ACCEPT
    state.decision = decision
    logger.info("list %s, inbound %s: %s (hits: %s)", mlist, state.inbound_id, decision, state.rule_hits)
    return decision


def run_handlers(
    mlist: MailingList, msg: EmailMessage, state: PostState, pipeline: Sequence[str] | None = None
) -> None:
    """Run each handler of `pipeline` (the list's pipeline by default) on `msg`, in order.

    A handler may raise PostEnded; it goes to the caller, who must roll
    back what the handlers before it did.
    """
    for name in pipeline_for(mlist) if pipeline is None else pipeline:
        try:
            get_handler(name).process(mlist, msg, state)
        except PostEnded as ended:
            ended.handler = ended.handler or name
            logger.info("list %s, inbound %s: %s by %s: %s", mlist, state.inbound_id, ended.disposal, name, ended)
            raise
