"""The header-filters rule: a list's header and body filters, through the
real chain, on encoded headers and bodies in several charsets; and the
service that saves them."""

import pytest

from lists.models import Action, ContentFilter, FilterPart
from lists.services import InvalidSetting, configure_list, set_content_filters
from messages.models import InboundStatus, Post
from messages.rules.header_filters import BODY_SCAN_BYTES
from tests.inbound_mail import compose, deliver

pytest_plugins = ["tests.mail_fixtures"]


def header_filter(header: str, pattern: str, action: str = Action.HOLD) -> dict:
    return {"part": FilterPart.HEADER, "header": header, "pattern": pattern, "action": action}


def body_filter(pattern: str, action: str = Action.HOLD) -> dict:
    return {"part": FilterPart.BODY, "pattern": pattern, "action": action}


def with_body(text: str, charset: str, cte: str = "quoted-printable", subtype: str = "plain"):
    msg = compose()
    msg.set_content(text.encode(charset), "text", subtype, cte=cte)
    msg.set_param("charset", charset)
    return msg


def test_a_header_filter_holds_with_a_reason_naming_the_filter(mlist, member):
    set_content_filters(mlist, [header_filter("X-Mailer", "^Spammer"), header_filter("Subject", "cheap")])
    inbound = deliver(mlist, compose(subject="Cheap watches"))
    assert inbound.status == InboundStatus.HELD
    assert inbound.held.reasons == ["The message's Subject header matches the list's filter 2"]


def test_an_encoded_word_subject_is_matched_decoded(mlist, member):
    set_content_filters(mlist, [header_filter("Subject", "g\u00fcnstige uhren", Action.DISCARD)])
    raw = (
        compose(subject="x")
        .as_bytes()
        .replace(b"Subject: x", b"Subject: =?utf-8?b?R8O8bnN0aWdlIFVocmVu?= =?iso-8859-1?q?_heute?=")
    )
    inbound = deliver(mlist, raw)
    assert inbound.status == InboundStatus.DISCARDED


def test_a_folded_header_is_matched_unfolded(mlist, member):
    set_content_filters(mlist, [header_filter("X-Campaign", "spring sale 2026", Action.DISCARD)])
    raw = compose().as_bytes().replace(b"Subject:", b"X-Campaign: spring\r\n sale 2026\r\nSubject:")
    assert deliver(mlist, raw).status == InboundStatus.DISCARDED


def test_any_value_of_a_repeated_header_matches(mlist, member):
    set_content_filters(mlist, [header_filter("Received", r"from bad\.example", Action.DISCARD)])
    msg = compose()
    msg["Received"] = "from good.example by mx"
    msg["Received"] = "from BAD.example by relay"
    assert deliver(mlist, msg).status == InboundStatus.DISCARDED


def test_the_header_name_is_matched_in_any_case(mlist, member):
    set_content_filters(mlist, [header_filter("subject", "hello", Action.DISCARD)])
    assert deliver(mlist, compose(subject="HELLO")).status == InboundStatus.DISCARDED


def test_no_match_lets_the_post_through(mlist, member):
    set_content_filters(mlist, [header_filter("Subject", "cheap"), body_filter("viagra")])
    assert deliver(mlist, compose(subject="Ants", body="Hello.\n")).status == InboundStatus.ACCEPTED


def test_the_first_matching_filter_decides(mlist, member):
    set_content_filters(
        mlist, [header_filter("Subject", "urgent", Action.DISCARD), header_filter("Subject", ".", Action.HOLD)]
    )
    assert deliver(mlist, compose(subject="Urgent")).status == InboundStatus.DISCARDED
    assert deliver(mlist, compose(subject="Calm")).status == InboundStatus.HELD


def test_accept_ends_the_chain_even_for_a_nonmember(mlist):
    set_content_filters(mlist, [header_filter("X-Trusted", "^yes$", Action.ACCEPT)])
    msg = compose(sender="outsider@example.net", X_Trusted="yes")
    inbound = deliver(mlist, msg, mail_from="outsider@example.net")
    assert inbound.status == InboundStatus.ACCEPTED
    assert Post.objects.get().inbound == inbound


def test_reject_tells_the_sender_which_filter_matched(mlist, member, smtp_sink):
    set_content_filters(mlist, [body_filter("buy now", Action.REJECT)])
    inbound = deliver(mlist, compose(body="Please BUY NOW.\n"))
    assert inbound.status == InboundStatus.REJECTED
    [notice] = smtp_sink.received
    assert "The message's text matches the list's filter 1" in notice.message.get_body(("plain",)).get_content()
    # The pattern itself is not told.
    assert b"buy now" not in notice.data.split(b"\r\n\r\n", 1)[1].split(b"message/rfc822")[0].lower()


@pytest.mark.parametrize(
    ("charset", "cte"),
    [("iso-8859-1", "quoted-printable"), ("utf-8", "base64"), ("koi8-r", "8bit"), ("windows-1252", "base64")],
)
def test_a_body_filter_reads_the_text_in_its_charset(mlist, member, charset, cte):
    word = "\u0441\u043a\u0438\u0434\u043a\u0430" if charset == "koi8-r" else "Gr\u00fcn"
    set_content_filters(mlist, [body_filter(word, Action.DISCARD)])
    assert deliver(mlist, with_body(f"Viele {word.upper()}!\n", charset, cte)).status == InboundStatus.DISCARDED


def test_a_body_in_an_unknown_charset_is_read_leniently(mlist, member):
    set_content_filters(mlist, [body_filter("casino", Action.DISCARD)])
    msg = with_body("Best casino \u00e9\n", "utf-8", "8bit")
    msg.set_param("charset", "x-no-such-charset")
    assert deliver(mlist, msg).status == InboundStatus.DISCARDED


def test_a_charset_that_decodes_to_lone_surrogates_is_read_not_parked(mlist, member):
    set_content_filters(mlist, [body_filter("casino", Action.DISCARD)])
    msg = with_body("\\ud800 casino\n", "us-ascii", "7bit")
    msg.set_param("charset", "unicode-escape")
    assert deliver(mlist, msg).status == InboundStatus.DISCARDED


def test_a_body_filter_sees_html_parts_and_anchors_on_lines(mlist, member):
    set_content_filters(mlist, [body_filter(r"^unsubscribe here$", Action.DISCARD)])
    msg = compose(body="Hello.\n")
    msg.add_alternative("<p>Hi</p>\nUnsubscribe here\n<p>bye</p>", subtype="html")
    assert deliver(mlist, msg).status == InboundStatus.DISCARDED


def test_a_body_filter_does_not_read_attachments_that_are_not_text(mlist, member):
    set_content_filters(mlist, [body_filter("secret", Action.DISCARD)])
    msg = compose(body="Hello.\n")
    msg.add_attachment(b"secret", maintype="application", subtype="octet-stream", filename="a.bin")
    assert deliver(mlist, msg).status == InboundStatus.ACCEPTED


def test_a_body_filter_reads_only_the_first_part_of_a_long_text(mlist, member):
    configure_list(mlist, max_message_size=0)
    set_content_filters(mlist, [body_filter("needle", Action.DISCARD)])
    late = "x" * BODY_SCAN_BYTES + " needle\n"
    assert deliver(mlist, with_body(late, "utf-8", "base64")).status == InboundStatus.ACCEPTED
    early = "needle " + "x" * BODY_SCAN_BYTES + "\n"
    assert deliver(mlist, with_body(early, "utf-8", "base64")).status == InboundStatus.DISCARDED


def test_a_pathological_pattern_answers_on_a_huge_body(mlist, member):
    # With Python's re, (a+)+$ against 100 KB of a's and one b never finishes; RE2 is linear.
    configure_list(mlist, max_message_size=0)
    set_content_filters(mlist, [body_filter("(a+)+$", Action.DISCARD), header_filter("Subject", "(x+x+)+y")])
    msg = with_body("a" * 100_000 + "b", "us-ascii", "7bit")
    msg.replace_header("Subject", "x" * 5_000)
    assert deliver(mlist, msg).status == InboundStatus.ACCEPTED
    assert deliver(mlist, with_body("a" * 100_000, "us-ascii", "7bit")).status == InboundStatus.DISCARDED


def test_a_stored_pattern_that_does_not_compile_is_skipped(mlist, member):
    ContentFilter.objects.create(mailing_list=mlist, position=0, part="body", pattern="(", action=Action.DISCARD)
    ContentFilter.objects.create(mailing_list=mlist, position=1, part="body", pattern="x", action=Action.DEFER)
    assert deliver(mlist, compose(body="x (\n")).status == InboundStatus.ACCEPTED


# The service


def test_filters_are_saved_in_order_replacing_the_old_ones(mlist):
    set_content_filters(mlist, [header_filter("Subject", "old")])
    set_content_filters(mlist, [body_filter("b", Action.REJECT), header_filter("From", "a", Action.ACCEPT)])
    rows = list(ContentFilter.objects.filter(mailing_list=mlist).order_by("position"))
    assert [(r.position, r.part, r.header, r.pattern, r.action) for r in rows] == [
        (0, "body", "", "b", "reject"),
        (1, "header", "From", "a", "accept"),
    ]


def test_a_body_filter_keeps_no_header(mlist):
    set_content_filters(mlist, [{**body_filter("x"), "header": "Subject"}])
    assert ContentFilter.objects.get().header == ""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (header_filter("Subject", "(unclosed"), "missing )"),
        (header_filter("Subject", r"(.)\1"), "invalid escape sequence"),
        (header_filter("Subject", "(?<=x)y"), "invalid perl operator"),
        (header_filter("Subject", ""), "The pattern is empty"),
        (header_filter("Subject", "a" * 1001), "at most 1000 characters"),
        (header_filter("Sub ject", "x"), "Not a header name"),
        (header_filter("Subject:", "x"), "Not a header name"),
        (header_filter("", "x"), "Not a header name"),
        (header_filter("Subject", "x", Action.DEFER), "cannot defer"),
        (header_filter("Subject", "x", "bounce"), "Not one of"),
        ({"part": "footer", "pattern": "x", "action": "hold"}, "Not one of"),
    ],
)
def test_a_bad_filter_is_refused_naming_it_and_nothing_changes(mlist, spec, message):
    set_content_filters(mlist, [header_filter("Subject", "kept")])
    with pytest.raises(InvalidSetting) as caught:
        set_content_filters(mlist, [header_filter("Subject", "fine"), spec])
    assert list(caught.value.errors) == ["filter 2"]
    assert message in str(caught.value)
    assert list(ContentFilter.objects.values_list("pattern", flat=True)) == ["kept"]
