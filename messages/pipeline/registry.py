"""The registries of rules and handlers, and the default chain and pipeline.

A rule or handler is a small class with a `name`; `@register_rule` and
`@register_handler` put one instance of it in RULES or HANDLERS. A chain
and a pipeline are lists of those names. Plugins register their own classes
the same way and add the names where they belong, to the defaults or (once
lists can choose) to one list's chain.
"""

from __future__ import annotations

import importlib
from email.message import EmailMessage
from typing import TYPE_CHECKING, ClassVar

from messages.pipeline.state import OnHit, PostState

if TYPE_CHECKING:
    from lists.models import MailingList


class PipelineError(Exception):
    """Base of the pipeline's errors."""


class UnknownRule(PipelineError):
    def __init__(self, name: str):
        super().__init__(f"No rule is registered under the name {name!r}")


class UnknownHandler(PipelineError):
    def __init__(self, name: str):
        super().__init__(f"No handler is registered under the name {name!r}")


class DuplicateName(PipelineError):
    pass


class Rule:
    """A yes/no question about a post (Mailman's IRule).

    `check()` answers True when the rule hits and then appends a reason a
    person can read to `state.reasons`. It must not change the database,
    with one exception Mailman makes too: nonmember moderation records the
    first post of an unknown sender as a nonmember, so owners can set an
    action for that address.
    `on_hit` says where a hit leads the chain.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    on_hit: ClassVar[OnHit] = OnHit.DEFER

    def check(self, mlist: MailingList, msg: EmailMessage, state: PostState) -> bool:
        raise NotImplementedError


class Handler:
    """One step that changes or stores an accepted post (Mailman's IHandler)."""

    name: ClassVar[str]
    description: ClassVar[str]

    def process(self, mlist: MailingList, msg: EmailMessage, state: PostState) -> None:
        raise NotImplementedError


RULES: dict[str, Rule] = {}
HANDLERS: dict[str, Handler] = {}

# Mailman 3's default-posting-chain, in its order, with the rules we have;
# ours (header-filters, spam) come where Mailman's header-match chain would
# act: after bans, before the members' moderation actions.
DEFAULT_CHAIN: list[str] = [
    "dmarc-mitigation",
    "no-senders",
    "approved",
    "emergency",
    "loop",
    "banned-address",
    "header-filters",
    "spam",
    "member-moderation",
    "nonmember-moderation",
    "administrivia",
    "implicit-dest",
    "max-recipients",
    "max-size",
    "no-subject",
]

DEFAULT_PIPELINE: list[str] = [
    "mime-delete",
    "cook-headers",
    "subject-prefix",
    "reply-to",
    "rfc-2369",
    "decorate",
    "to-archive",
    "dmarc",
    "to-outgoing",
]

# The packages whose modules register the built-in rules and handlers.
BUILTIN_PACKAGES = ("messages.rules", "messages.handlers")


def register_rule(cls: type[Rule]) -> type[Rule]:
    """Class decorator: put one instance of the rule `cls` in RULES."""
    _register(RULES, cls)
    return cls


def register_handler(cls: type[Handler]) -> type[Handler]:
    """Class decorator: put one instance of the handler `cls` in HANDLERS."""
    _register(HANDLERS, cls)
    return cls


def _register(registry: dict, cls: type) -> None:
    existing = registry.get(cls.name)
    # Re-importing the same module (autoreload) registers the same class again.
    if existing is not None and qualified_name(type(existing)) != qualified_name(cls):
        raise DuplicateName(f"{cls.name!r} is already registered by {qualified_name(type(existing))}")
    registry[cls.name] = cls()


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_builtins_loaded = False


def load_builtins() -> None:
    """Import the built-in rules and handlers, which registers them."""
    global _builtins_loaded
    # Asked for every rule and handler of every post: the imports are done once.
    if _builtins_loaded:
        return
    for package in BUILTIN_PACKAGES:
        importlib.import_module(package)
    _builtins_loaded = True


def get_rule(name: str) -> Rule:
    load_builtins()
    try:
        return RULES[name]
    except KeyError:
        raise UnknownRule(name) from None


def get_handler(name: str) -> Handler:
    load_builtins()
    try:
        return HANDLERS[name]
    except KeyError:
        raise UnknownHandler(name) from None


def chain_for(mlist: MailingList) -> list[str]:
    """The rule names a post to `mlist` goes through; the seam for per-list chains."""
    return list(DEFAULT_CHAIN)


def pipeline_for(mlist: MailingList) -> list[str]:
    """The handler names an accepted post to `mlist` goes through."""
    return list(DEFAULT_PIPELINE)
