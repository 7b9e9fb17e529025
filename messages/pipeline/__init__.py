"""The posting pipeline: a chain of rules decides what happens to a post,
then a pipeline of handlers changes, stores and sends an accepted one.

A plugin adds a rule like this (a handler likewise, with Handler,
@register_handler and DEFAULT_PIPELINE)::

    from messages.pipeline import DEFAULT_CHAIN, OnHit, Rule, register_rule

    @register_rule
    class NoAttachments(Rule):
        name = "no-attachments"
        description = "Hold posts with attachments."
        on_hit = OnHit.DEFER

        def check(self, mlist, msg, state):
            if not any(part.is_attachment() for part in msg.walk()):
                return False
            state.reasons.append("The message has attachments")
            return True

    DEFAULT_CHAIN.insert(DEFAULT_CHAIN.index("no-subject") + 1, "no-attachments")
"""

from messages.pipeline.registry import (
    DEFAULT_CHAIN,
    DEFAULT_PIPELINE,
    HANDLERS,
    RULES,
    Handler,
    PipelineError,
    Rule,
    UnknownHandler,
    UnknownRule,
    chain_for,
    get_handler,
    get_rule,
    pipeline_for,
    register_handler,
    register_rule,
)
from messages.pipeline.runner import run_chain, run_handlers
from messages.pipeline.state import Decision, OnHit, PostState

__all__ = [
    "DEFAULT_CHAIN",
    "DEFAULT_PIPELINE",
    "HANDLERS",
    "RULES",
    "Decision",
    "Handler",
    "OnHit",
    "PipelineError",
    "PostState",
    "Rule",
    "UnknownHandler",
    "UnknownRule",
    "chain_for",
    "get_handler",
    "get_rule",
    "pipeline_for",
    "register_handler",
    "register_rule",
    "run_chain",
    "run_handlers",
]
