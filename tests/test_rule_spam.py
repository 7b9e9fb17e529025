"""The spam rule in the posting chain: SpamAssassin's verdict from the real
spamd or from trusted MTA headers against the list's hold and discard
scores, and what happens when spamd is down, hangs or answers garbage."""

import logging
import re

import pytest

from lists.services import InvalidSetting, configure_list
from messages import moderation
from messages.models import HeldMessage, InboundStatus, Post
from messages.pipeline import DEFAULT_CHAIN, get_rule
from messages.pipeline.mime import message_bytes, parse_message
from tests.inbound_mail import compose, deliver, state_for

pytest.register_assert_rewrite("tests.spamd_fixtures")
from tests.spamd_fixtures import GTUBE  # noqa: E402

pytest_plugins = ["tests.spamd_fixtures"]

UNAVAILABLE = "Spam check unavailable"


def gtube(**headers: str) -> bytes:
    """The GTUBE corpus message, from the member to the list, with `headers` added on top."""
    msg = parse_message(GTUBE.read_bytes())
    msg.replace_header("From", "member@example.org")
    msg.replace_header("To", "ant@example.com")
    raw = message_bytes(msg)
    added = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return added.encode() + raw


def held_reasons() -> list[str]:
    return HeldMessage.objects.get().reasons


def test_spam_runs_after_the_ban_and_before_member_moderation():
    assert (
        DEFAULT_CHAIN.index("banned-address") < DEFAULT_CHAIN.index("spam") < DEFAULT_CHAIN.index("member-moderation")
    )


def test_gtube_from_a_member_is_held_with_spamassassins_score_and_rules(mlist, member, spamd):
    assert deliver(mlist, gtube()).status == InboundStatus.HELD
    [reason] = held_reasons()
    # GTUBE scores 1000; with network tests on, spamd may add a rule's fraction.
    assert re.match(r"SpamAssassin scored it 1000\.\d \(", reason)
    assert "GTUBE" in reason


def test_a_moderator_approved_spam_post_is_not_checked_again(mlist, member, owner, spamd):
    deliver(mlist, gtube())
    post = moderation.approve(HeldMessage.objects.get(), owner)
    assert post is not None
    assert Post.objects.get().pk == post.pk


def test_without_spamd_or_trusted_headers_the_rule_does_nothing(mlist, settings):
    settings.SPAMD_URL = ""
    msg = parse_message(gtube(X_Spam_Status="Yes, score=99.0 required=5.0"))
    assert not get_rule("spam").check(mlist, msg, state_for(msg))


def test_a_list_without_spam_scores_never_asks_spamd(mlist, member, settings, closed_port_url):
    settings.SPAMD_URL, settings.SPAMD_DOWN_ACTION = closed_port_url, "hold"
    configure_list(mlist, spam_hold_score=None, spam_discard_score=None)
    assert deliver(mlist, gtube()).status == InboundStatus.ACCEPTED


def test_a_post_over_spamd_max_size_is_not_checked(mlist, member, spamd, settings):
    settings.SPAMD_MAX_SIZE = 200
    inbound = deliver(mlist, gtube())
    assert inbound.status == InboundStatus.ACCEPTED


def test_a_post_at_spamd_max_size_is_checked(mlist, member, spamd, settings):
    settings.SPAMD_MAX_SIZE = len(gtube())
    assert deliver(mlist, gtube()).status == InboundStatus.HELD


# spamd down, hanging or talking nonsense


@pytest.fixture(params=["closed port", "never answers", "garbage", "error"])
def broken_spamd(request, settings, closed_port_url, loopback) -> str:
    """SPAMD_URL pointing at a spamd that cannot give a verdict, with a short timeout."""
    settings.SPAMD_TIMEOUT = 0.5
    settings.SPAMD_URL = {
        "closed port": lambda: closed_port_url,
        "never answers": lambda: loopback(None).url,
        "garbage": lambda: loopback(b"220 mail.example.net ESMTP\r\n\r\n").url,
        "error": lambda: loopback(b"SPAMD/1.0 74 Timeout: (30 second timeout while trying to CHECK)\r\n").url,
    }[request.param]()
    return settings.SPAMD_URL


def test_spamd_unavailable_holds_when_the_site_says_hold(mlist, member, broken_spamd, settings, caplog):
    settings.SPAMD_DOWN_ACTION = "hold"
    with caplog.at_level(logging.WARNING, logger="messages.rules.spam"):
        inbound = deliver(mlist, gtube())
    assert inbound.status == InboundStatus.HELD
    [reason] = held_reasons()
    assert reason.startswith(UNAVAILABLE)
    assert any(UNAVAILABLE in record.getMessage() and "held" in record.getMessage() for record in caplog.records)


def test_spamd_unavailable_accepts_when_the_site_says_accept(mlist, member, broken_spamd, settings, caplog):
    settings.SPAMD_DOWN_ACTION = "accept"
    with caplog.at_level(logging.WARNING, logger="messages.rules.spam"):
        inbound = deliver(mlist, gtube())
    assert inbound.status == InboundStatus.ACCEPTED
    assert any(UNAVAILABLE in record.getMessage() and "accepted" in record.getMessage() for record in caplog.records)


def test_a_hanging_spamd_is_given_up_at_the_timeout_and_the_reason_says_so(mlist, member, settings, loopback):
    settings.SPAMD_URL, settings.SPAMD_TIMEOUT, settings.SPAMD_DOWN_ACTION = loopback(None).url, 0.5, "hold"
    assert deliver(mlist, gtube()).status == InboundStatus.HELD
    assert held_reasons() == [f"{UNAVAILABLE}: spamd at {settings.SPAMD_URL} did not answer within 0.5 s"]


def test_an_unknown_down_action_holds_rather_than_lets_through(mlist, member, settings, closed_port_url):
    settings.SPAMD_URL, settings.SPAMD_DOWN_ACTION = closed_port_url, "hodl"
    assert deliver(mlist, gtube()).status == InboundStatus.HELD


def test_a_spamd_url_that_is_no_address_counts_as_unavailable(mlist, member, settings):
    settings.SPAMD_URL, settings.SPAMD_DOWN_ACTION = "spamd.example.net", "hold"
    assert deliver(mlist, gtube()).status == InboundStatus.HELD
    assert held_reasons()[0].startswith(UNAVAILABLE)


# Headers added by the site's MTA


@pytest.fixture
def trusted(settings):
    settings.TRUST_MTA_SPAM_HEADERS = True
    settings.SPAMD_URL = ""


def test_a_trusted_x_spam_status_holds(mlist, member, trusted):
    msg = compose(X_Spam_Status="Yes, score=7.1 required=5.0 tests=BAYES_99,URIBL_BLACK autolearn=no")
    assert deliver(mlist, msg).status == InboundStatus.HELD
    assert held_reasons() == [
        "SpamAssassin at the site's mail server scored it 7.1 (BAYES_99, URIBL_BLACK), in its X-Spam-Status header"
    ]


def test_spam_headers_are_ignored_unless_the_site_trusts_them(mlist, member, settings):
    settings.TRUST_MTA_SPAM_HEADERS, settings.SPAMD_URL = False, ""
    msg = compose(X_Spam_Status="Yes, score=7.1 required=5.0", X_Spam_Score="7.1")
    assert deliver(mlist, msg).status == InboundStatus.ACCEPTED


def test_a_trusted_header_is_used_instead_of_asking_spamd(mlist, member, spamd, settings):
    settings.TRUST_MTA_SPAM_HEADERS = True
    assert deliver(mlist, gtube(X_Spam_Status="No, score=0.3 required=5.0")).status == InboundStatus.ACCEPTED


def test_an_untrusted_header_cannot_talk_spamd_round(mlist, member, spamd, settings):
    settings.TRUST_MTA_SPAM_HEADERS = False
    assert deliver(mlist, gtube(X_Spam_Status="No, score=-100.0 required=5.0")).status == InboundStatus.HELD
    assert "GTUBE" in held_reasons()[0]


@pytest.mark.parametrize(
    ("hold", "discard", "score", "status"),
    [
        (5.0, None, "4.9", InboundStatus.ACCEPTED),
        (5.0, None, "5.0", InboundStatus.HELD),
        (5.0, 10.0, "10", InboundStatus.DISCARDED),
        (5.0, 10.0, "-3.5", InboundStatus.ACCEPTED),
        (None, 10.0, "9.9", InboundStatus.ACCEPTED),
        (None, 10.0, "12.0", InboundStatus.DISCARDED),
    ],
)
def test_the_lists_scores_decide_on_a_trusted_x_spam_score(mlist, member, trusted, hold, discard, score, status):
    configure_list(mlist, spam_hold_score=hold, spam_discard_score=discard)
    assert deliver(mlist, compose(X_Spam_Score=score)).status == status


HOSTILE = ["nan", "NaN", "inf", "-inf", "1e999", "9" * 5000, "Yes", "\u0661\u0662", "score=", ""]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_trusted_headers_are_no_verdict(mlist, member, trusted, value):
    msg = compose(X_Spam_Status=f"Yes, score={value} required=5.0", X_Spam_Score=value)
    assert deliver(mlist, msg).status == InboundStatus.ACCEPTED


@pytest.mark.parametrize("value", ["nan", "1e999", "9" * 5000])
def test_with_a_hostile_trusted_header_spamd_is_asked(mlist, member, spamd, settings, value):
    settings.TRUST_MTA_SPAM_HEADERS = True
    assert deliver(mlist, gtube(X_Spam_Status=f"No, score={value}", X_Spam_Score=value)).status == InboundStatus.HELD
    assert "GTUBE" in held_reasons()[0]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_spam_score_that_is_no_number_is_refused(mlist, value):
    with pytest.raises(InvalidSetting) as refused:
        configure_list(mlist, spam_hold_score=value)
    assert "spam_hold_score" in refused.value.errors
