from email.message import EmailMessage

import pytest

from lists.services import configure_list
from messages.pipeline import get_handler
from messages.pipeline.mime import parse_message
from tests.inbound_mail import compose, corpus_message, state_for

FOOTER_LINE = "Ant mailing list -- ant@example.com"


def decorate(mlist, msg: EmailMessage) -> EmailMessage:
    get_handler("decorate").process(mlist, msg, state_for(msg))
    return parse_message(msg.as_bytes())


def latin1_post(body: str) -> EmailMessage:
    msg = compose()
    msg.set_content(body, charset="iso-8859-1", cte="quoted-printable")
    return msg


def test_the_footer_is_appended_to_a_plain_text_body(mlist):
    out = decorate(mlist, compose(body="Hi all."))
    assert not out.is_multipart()
    text = out.get_content()
    assert text.startswith("Hi all.\n___")
    assert FOOTER_LINE in text
    assert "To unsubscribe send an email to ant-leave@example.com" in text
    assert "/lists/ant.example.com/" in text


def test_the_footer_joins_a_latin1_body_in_latin1(mlist):
    out = decorate(mlist, latin1_post("Caf\u00e9 cr\u00e8me.\n"))
    assert out.get_content_charset() == "iso-8859-1"
    assert out["Content-Transfer-Encoding"] == "quoted-printable"
    assert out.get_content().startswith("Caf\u00e9 cr\u00e8me.\n")
    assert FOOTER_LINE in out.get_content()


def test_a_footer_the_body_charset_cannot_carry_turns_the_body_to_utf8(mlist):
    configure_list(mlist, display_name="\u041c\u0443\u0440\u0430\u0432\u044c\u0438")
    out = decorate(mlist, latin1_post("Caf\u00e9.\n"))
    assert out.get_content_charset() == "utf-8"
    assert out.get_content().startswith("Caf\u00e9.\n")
    assert "\u041c\u0443\u0440\u0430\u0432\u044c\u0438 mailing list" in out.get_content()


def test_format_flowed_survives(mlist):
    msg = compose(body="Hi all.\n")
    msg.set_param("format", "flowed")
    assert decorate(mlist, msg).get_param("format") == "flowed"


def test_a_multipart_mixed_post_gets_the_footer_as_its_last_part(mlist):
    out = decorate(mlist, parse_message(corpus_message("msg_04.txt")))
    parts = out.get_payload()
    assert out.get_content_type() == "multipart/mixed"
    assert len(parts) == 3
    assert parts[-1].get_content_type() == "text/plain"
    assert parts[-1]["Content-Disposition"] == "inline"
    assert FOOTER_LINE in parts[-1].get_content()


def test_an_alternative_post_is_wrapped_whole_with_the_footer_beside_it(mlist):
    msg = compose(body="Plain.\n")
    msg.add_alternative("<p>Rich.</p>", subtype="html")
    out = decorate(mlist, msg)
    inner, footer = out.get_payload()
    assert out.get_content_type() == "multipart/mixed"
    assert inner.get_content_type() == "multipart/alternative"
    assert [part.get_content() for part in inner.iter_parts()] == ["Plain.\n", "<p>Rich.</p>\n"]
    assert FOOTER_LINE in footer.get_content()


def test_a_signed_post_is_wrapped_without_touching_the_signed_part(mlist):
    raw = corpus_message("msg_45.txt")
    signed = parse_message(raw).get_payload()
    out = decorate(mlist, parse_message(raw))
    inner = out.get_payload()[0]
    assert inner.get_content_type() == "multipart/signed"
    assert [part.as_bytes() for part in inner.get_payload()] == [part.as_bytes() for part in signed]


def test_a_body_in_an_unknown_charset_is_wrapped_rather_than_rewritten(mlist):
    raw = b"From: a@example.org\nContent-Type: text/plain; charset=x-martian\n\n\xde\xad\xbe\xef\n"
    out = decorate(mlist, parse_message(raw))
    inner, footer = out.get_payload()
    assert inner.get_payload(decode=True) == b"\xde\xad\xbe\xef\n"
    assert FOOTER_LINE in footer.get_content()


def test_an_html_only_post_is_wrapped(mlist):
    msg = compose()
    msg.set_content("<p>Hi</p>", subtype="html")
    out = decorate(mlist, msg)
    assert [part.get_content_type() for part in out.iter_parts()] == ["text/html", "text/plain"]


@pytest.mark.parametrize("name", ["msg_02.txt", "msg_06.txt", "msg_15.txt", "msg_33.txt", "msg_41.txt"])
def test_odd_corpus_messages_are_decorated_or_left_readable(mlist, name):
    out = decorate(mlist, parse_message(corpus_message(name)))
    assert out["From"] == parse_message(corpus_message(name))["From"]
