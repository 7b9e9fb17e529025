import pytest
from django.db import transaction

from lists.services import configure_list
from messages.models import Post
from messages.pipeline import get_handler
from messages.pipeline.mime import header_text, parse_message
from tests.inbound_mail import compose, deliver, state_for


def prefix(mlist, msg, sequence: int = 7):
    """Run the handler on `msg`; the message as it would go out, re-read."""
    state = state_for(msg)
    state.sequence = sequence
    get_handler("subject-prefix").process(mlist, msg, state)
    return parse_message(msg.as_bytes())


def raw_subject(text: bytes):
    return parse_message(b"From: a@example.org\nSubject: " + text + b"\n\nHi.\n")


def test_the_prefix_goes_first(mlist):
    assert prefix(mlist, compose(subject="Queens and workers"))["Subject"] == "[ant] Queens and workers"


def test_percent_d_becomes_the_post_number(mlist, member):
    configure_list(mlist, subject_prefix="[ant %d] ")
    deliver(mlist, compose(subject="First"))
    deliver(mlist, compose(subject="Second"))
    assert list(Post.objects.order_by("sequence").values_list("sequence", "subject")) == [
        (1, "[ant 1] First"),
        (2, "[ant 2] Second"),
    ]


def test_a_padded_number_keeps_its_width(mlist):
    configure_list(mlist, subject_prefix="[ant %05d] ")
    assert prefix(mlist, compose(subject="x"), sequence=42)["Subject"] == "[ant 00042] x"


def test_a_numbered_prefix_from_an_earlier_post_is_replaced(mlist):
    configure_list(mlist, subject_prefix="[ant %d] ")
    assert prefix(mlist, compose(subject="Re: [ant 3] x"), sequence=9)["Subject"] == "[ant 9] Re: x"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [ant] x", "[ant] Re: x"),
        ("[ant] Re: x", "[ant] Re: x"),
        ("RE: Re: [ant] x", "[ant] Re: x"),
        ("AW: [ant] x", "[ant] Re: x"),
        ("[ant] x", "[ant] x"),
        ("[ant]", "[ant] (no subject)"),
    ],
)
def test_replies_get_no_second_prefix(mlist, subject, expected):
    assert prefix(mlist, compose(subject=subject))["Subject"] == expected


def test_a_post_without_subject_gets_one(mlist):
    assert prefix(mlist, compose(subject=None))["Subject"] == "[ant] (no subject)"


def test_an_encoded_word_subject_is_decoded_prefixed_and_encoded_again(mlist):
    msg = raw_subject(b"=?utf-8?b?w6l0w6kgw6AgUGFyaXM=?=")
    out = prefix(mlist, msg)
    assert out["Subject"] == "[ant] \u00e9t\u00e9 \u00e0 Paris"
    raw_line = next(value for name, value in out.raw_items() if name == "Subject")
    assert raw_line.isascii()
    assert "=?utf-8?" in raw_line


def test_a_latin1_quoted_printable_subject_reads_right(mlist):
    out = prefix(mlist, raw_subject(b"Re: =?iso-8859-1?q?Caf=E9?= [ant] noir"))
    assert out["Subject"] == "[ant] Re: Caf\u00e9 noir"


def test_a_prefix_with_non_ascii_text_is_encoded(mlist):
    configure_list(mlist, subject_prefix="[fourmi\u00e8re] ")
    assert prefix(mlist, compose(subject="x"))["Subject"] == "[fourmi\u00e8re] x"


@pytest.mark.parametrize(
    "subject",
    [
        b"=?utf-8?b?not base64!!?=",
        b"=?x-no-such-charset?q?abc?=",
        b"=?utf-8?q?=FF=FE?= tail",
        b"caf\xe9 8-bit",
        b"=?utf-8?b?",
    ],
)
def test_broken_encodings_do_not_crash(mlist, subject):
    out = prefix(mlist, raw_subject(subject))
    assert out["Subject"].startswith("[ant] ")
    assert header_text(out, "Subject").startswith("[ant] ")


def test_an_empty_prefix_leaves_the_subject_alone(mlist):
    configure_list(mlist, subject_prefix="")
    assert prefix(mlist, compose(subject="Re: x"))["Subject"] == "Re: x"


def test_the_original_subject_is_kept_in_the_state(mlist):
    msg = compose(subject="Re: [ant] x")
    state = state_for(msg)
    get_handler("subject-prefix").process(mlist, msg, state)
    assert state.original_subject == "Re: [ant] x"


def test_the_number_is_reserved_only_when_the_prefix_uses_it(mlist):
    configure_list(mlist, subject_prefix="[ant %d] ")
    msg = compose(subject="x")
    state = state_for(msg)
    with transaction.atomic():
        get_handler("subject-prefix").process(mlist, msg, state)
    mlist.refresh_from_db()
    assert (state.sequence, mlist.next_post_id) == (1, 2)
