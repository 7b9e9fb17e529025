"""The registries, the chain runner and the typed pipeline state."""

from copy import copy

import pytest

from messages.models import InboundStatus, Post
from messages.pipeline import (
    DEFAULT_CHAIN,
    DEFAULT_PIPELINE,
    HANDLERS,
    RULES,
    Decision,
    Handler,
    OnHit,
    PostState,
    Rule,
    get_rule,
    register_handler,
    register_rule,
    registry,
    run_chain,
)
from messages.pipeline.registry import DuplicateName, load_builtins
from tests.inbound_mail import compose, deliver, state_for


@pytest.fixture
def extensible(monkeypatch):
    """The registries and the defaults as copies that a test may extend."""
    load_builtins()
    for name in ("RULES", "HANDLERS", "DEFAULT_CHAIN", "DEFAULT_PIPELINE"):
        monkeypatch.setattr(registry, name, copy(getattr(registry, name)))
    return registry


def test_the_default_chain_follows_mailmans_order():
    assert DEFAULT_CHAIN == [
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


def test_every_default_rule_and_handler_is_registered_and_described():
    load_builtins()
    for name in DEFAULT_CHAIN:
        assert RULES[name].name == name and str(RULES[name].description)
    for name in DEFAULT_PIPELINE:
        assert HANDLERS[name].name == name and str(HANDLERS[name].description)


def test_a_plugin_rule_joins_the_chain_and_its_reason_reaches_the_hold(extensible, mlist, member):
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

    extensible.DEFAULT_CHAIN.append("no-attachments")
    msg = compose()
    msg.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream", filename="x.bin")
    inbound = deliver(mlist, msg)
    assert inbound.status == InboundStatus.HELD
    assert inbound.held.reasons == ["The message has attachments"]


def test_a_plugin_handler_joins_the_pipeline(extensible, mlist, member):
    @register_handler
    class Stamp(Handler):
        name = "stamp"
        description = "Stamp posts."

        def process(self, mlist, msg, state):
            msg["X-Stamp"] = f"post {state.sequence}"

    extensible.DEFAULT_PIPELINE.insert(0, "stamp")
    deliver(mlist, compose())
    assert b"X-Stamp: post None" in bytes(Post.objects.get().raw)


def test_two_rules_may_not_share_a_name(extensible):
    with pytest.raises(DuplicateName):

        @register_rule
        class Impostor(Rule):
            name = "loop"
            description = "Not the real loop rule."


def test_an_unknown_rule_in_the_chain_parks_the_post_with_its_name(extensible, mlist, member):
    extensible.DEFAULT_CHAIN.append("no-such-rule")
    inbound = deliver(mlist, compose())
    assert inbound.status == InboundStatus.PARKED
    assert "no-such-rule" in inbound.error


def test_the_first_terminal_hit_decides_and_later_rules_are_not_checked(mlist):
    msg = compose(X_BeenThere="ant@example.com", subject=None)
    state = state_for(msg)
    assert run_chain(mlist, msg, state, ["loop", "no-subject"]) is Decision.DISCARD
    assert state.rule_hits == ["loop"]
    assert state.decision is Decision.DISCARD


def test_deferred_hits_hold_after_the_last_rule(mlist):
    msg = compose(subject=None)
    state = state_for(msg)
    assert run_chain(mlist, msg, state, ["no-subject", "loop"]) is Decision.HOLD
    assert state.rule_hits == ["no-subject"]
    assert state.rule_misses == ["loop"]


def test_no_hit_accepts(mlist):
    msg = compose()
    assert run_chain(mlist, msg, state_for(msg), ["loop", "no-subject"]) is Decision.ACCEPT


def test_the_state_names_the_first_sender_as_the_sender():
    msg = compose(sender="Ann <Ann@Example.org>", Sender="list-bot@example.net")
    state = state_for(msg, mail_from="bounce@example.net")
    assert state.senders == ["ann@example.org", "list-bot@example.net", "bounce@example.net"]
    assert state.sender == "ann@example.org"
    assert PostState().sender == ""


def test_reply_to_is_not_taken_as_a_sender():
    msg = compose(sender="outsider@example.net", Reply_To="member@example.org")
    assert "member@example.org" not in state_for(msg).senders


def test_rules_are_looked_up_by_name():
    assert get_rule("max-size").on_hit is OnHit.DEFER
