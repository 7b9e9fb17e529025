import base64
from email.message import EmailMessage

import pytest

from lists.models import Personalization, TemplateName
from lists.services import configure_list, set_template
from messages.handlers.decorate import Shape, decorate_message
from messages.list_configuration import read_configuration
from messages.pipeline import get_handler
from messages.pipeline.mime import message_bytes, parse_message
from tests.inbound_mail import CORPUS, compose, corpus_message, state_for

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


# Every shape of the corpus, and what must survive decoration


CORPUS_NAMES = sorted(path.name for path in CORPUS.glob("*.txt"))


def leaves(msg: EmailMessage) -> list[tuple[str, bytes]]:
    """(type, decoded content) of every leaf part, attached messages included;
    line ends as newlines (a 7bit part on the wire has CRLF)."""
    return [(part.get_content_type(), leaf_content(part)) for part in msg.walk() if not part.is_multipart()]


def leaf_content(part: EmailMessage) -> bytes:
    content = (part.get_payload(decode=True) or b"").replace(b"\r\n", b"\n")
    # A broken multipart (no boundary found) is a leaf of its raw text; a
    # generator may end that text with one more newline.
    return content.strip() if part.get_content_maintype() == "multipart" else content


def is_contiguous_within(inner: list, outer: list) -> bool:
    return any(outer[start : start + len(inner)] == inner for start in range(len(outer) - len(inner) + 1))


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_every_corpus_message_is_decorated_with_its_parts_intact(mlist, name):
    raw = corpus_message(name)
    original = parse_message(raw)
    msg = parse_message(raw)
    shape = decorate_message(msg, "", "The footer.\n")
    out = parse_message(message_bytes(msg))
    if shape is Shape.INLINE:
        text = out.get_content().replace("\r\n", "\n")
        assert text.startswith(original.get_content().replace("\r\n", "\n"))
        assert text.endswith("The footer.\n")
    elif shape is Shape.NONE:
        assert message_bytes(msg) == message_bytes(original)
    else:
        assert out.get_content_type() == "multipart/mixed"
        assert is_contiguous_within(leaves(original), leaves(out))
        assert leaves(out)[-1] == ("text/plain", b"The footer.\n")
    assert out["From"] == original["From"]
    assert out["Subject"] == original["Subject"]


def test_the_corpus_covers_every_shape(mlist):
    shapes = {decorate_message(parse_message(corpus_message(name)), "", "x") for name in CORPUS_NAMES}
    assert shapes == set(Shape)


def test_a_header_goes_first_and_a_footer_last_inline(mlist):
    set_template(mlist, TemplateName.REGULAR_HEADER, "Header of $display_name")
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Footer of $listname")
    out = decorate(mlist, compose(body="Hi all."))
    assert out.get_content() == "Header of Ant\nHi all.\nFooter of ant@example.com\n"


def test_a_multipart_mixed_post_gets_the_header_as_its_first_part(mlist):
    set_template(mlist, TemplateName.REGULAR_HEADER, "Header")
    out = decorate(mlist, parse_message(corpus_message("msg_04.txt")))
    parts = out.get_payload()
    assert parts[0].get_content() == "Header\n"
    assert parts[0]["Content-Disposition"] == "inline"
    assert FOOTER_LINE in parts[-1].get_content()


def test_an_encrypted_post_is_wrapped_untouched(mlist):
    raw = (
        b"From: a@example.org\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\n\n'
        b"--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n"
        b"--b\nContent-Type: application/octet-stream\n\n-----BEGIN PGP MESSAGE-----\nhQEMA\n"
        b"-----END PGP MESSAGE-----\n\n--b--\n"
    )
    out = decorate(mlist, parse_message(raw))
    inner, footer = out.get_payload()
    assert inner.get_content_type() == "multipart/encrypted"
    assert leaves(inner) == leaves(parse_message(raw))
    assert FOOTER_LINE in footer.get_content()


def test_an_smime_post_is_wrapped_untouched(mlist):
    raw = (
        b"From: a@example.org\nMIME-Version: 1.0\n"
        b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\n'
        b"Content-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHA6CAMIACAQAxggHX\n"
    )
    inner, _footer = decorate(mlist, parse_message(raw)).get_payload()
    assert inner.get_content_type() == "application/pkcs7-mime"
    assert inner.get_payload(decode=True) == parse_message(raw).get_payload(decode=True)


@pytest.mark.parametrize("armor", ["-----BEGIN PGP SIGNED MESSAGE-----", "-----BEGIN PGP MESSAGE-----"])
def test_inline_pgp_text_is_wrapped_rather_than_rewritten(mlist, armor):
    body = f"{armor}\nHash: SHA256\n\nSigned words.\n-----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----\n"
    out = decorate(mlist, compose(body=body))
    inner, footer = out.get_payload()
    assert inner.get_content() == body
    assert FOOTER_LINE in footer.get_content()


def test_a_lone_attachment_is_wrapped_rather_than_appended_to(mlist):
    msg = compose()
    msg.set_content("col1,col2\n", disposition="attachment", filename="data.txt")
    inner, _footer = decorate(mlist, msg).get_payload()
    assert inner.get_filename() == "data.txt"
    assert inner.get_content() == "col1,col2\n"


# Charsets


@pytest.mark.parametrize(
    ("charset", "cte", "text"),
    [
        ("utf-8", "8bit", "Gr\u00fc\u00dfe, \u4f60\u597d.\n"),
        ("utf-8", "base64", "Gr\u00fc\u00dfe.\n"),
        ("iso-8859-15", "quoted-printable", "Co\u00fbt: 5 \u20ac.\n"),
        ("koi8-r", "8bit", "\u041f\u0440\u0438\u0432\u0435\u0442.\n"),
        ("us-ascii", "7bit", "Plain.\n"),
    ],
)
def test_a_body_keeps_its_charset_and_its_text(mlist, charset, cte, text):
    msg = compose()
    msg.set_content(text, charset=charset, cte=cte)
    out = decorate(mlist, msg)
    assert out.get_content_charset() == charset
    assert out.get_content().startswith(text)
    assert FOOTER_LINE in out.get_content()


def test_a_utf16_body_becomes_utf8(mlist):
    raw = b"From: a@example.org\nContent-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: base64\n\n"
    raw += base64.encodebytes("Hallo.\n".encode("utf-16"))
    out = decorate(mlist, parse_message(raw))
    assert out.get_content_charset() == "utf-8"
    assert out.get_content().startswith("Hallo.\n")


def test_undecodable_bytes_in_a_declared_charset_are_wrapped_not_mangled(mlist):
    raw = b"From: a@example.org\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
    raw += b"\xff\xfe bad\n"
    inner, _footer = decorate(mlist, parse_message(raw)).get_payload()
    assert inner.get_payload(decode=True) == b"\xff\xfe bad\n"


def test_a_non_ascii_footer_part_is_quoted_printable_utf8(mlist):
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Liste \u00ab$display_name\u00bb")
    out = decorate(mlist, parse_message(corpus_message("msg_04.txt")))
    footer = out.get_payload()[-1]
    assert footer.get_content_charset() == "utf-8"
    assert footer["Content-Transfer-Encoding"] == "quoted-printable"
    assert footer.get_content() == "Liste \u00abAnt\u00bb\n"


# Owners' templates


def test_a_footer_line_too_long_for_smtp_makes_the_body_quoted_printable(mlist):
    set_template(mlist, TemplateName.REGULAR_FOOTER, "y" * 5000)
    msg = compose(body="Hi.\n")
    out = decorate(mlist, msg)
    assert out["Content-Transfer-Encoding"] == "quoted-printable"
    assert all(len(line) <= 998 for line in message_bytes(out).split(b"\r\n"))
    assert out.get_content() == "Hi.\n" + "y" * 5000 + "\n"


def test_a_personalized_list_leaves_its_stored_post_undecorated(mlist):
    configure_list(mlist, personalize=Personalization.FULL)
    msg = compose(body="Hi all.\n")
    assert decorate(mlist, msg).get_content() == "Hi all.\n"


def test_decorating_uses_the_templates_read_with_the_lists_configuration(mlist, django_assert_num_queries):
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Read once")
    msg = compose()
    state = state_for(msg)
    state.configuration = read_configuration(mlist)
    with django_assert_num_queries(0):
        get_handler("decorate").process(mlist, msg, state)
    assert msg.get_content().endswith("Read once\n")
