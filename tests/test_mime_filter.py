"""The MIME filter (the mime-delete handler): each setting, on real messages
from the corpus, through the real pipeline."""

from email.message import EmailMessage

import pytest

from lists.models import Action
from lists.services import configure_list
from messages.mime_filter import FILTERED_BY_HEADER
from messages.models import InboundStatus, Post
from messages.pipeline import get_handler
from messages.pipeline.mime import message_bytes, parse_message
from tests.inbound_mail import CORPUS, compose, corpus_message, deliver, state_for

pytest_plugins = ["tests.mail_fixtures"]


def filtering(mlist, **settings):
    # The corpus's senders are nobody's members, and wrote to other lists.
    configure_list(
        mlist,
        filter_content=True,
        default_nonmember_action=Action.ACCEPT,
        require_explicit_destination=False,
        **settings,
    )
    return mlist


def posted(mlist, msg: EmailMessage | bytes) -> EmailMessage:
    """Deliver `msg` to the list and return the stored post, parsed."""
    inbound = deliver(mlist, msg)
    assert inbound.status == InboundStatus.ACCEPTED, inbound.error
    return parse_message(bytes(Post.objects.get(inbound=inbound).raw))


def filtered(mlist, msg: EmailMessage) -> EmailMessage:
    """Only the mime-delete handler on `msg`, as the pipeline runs it."""
    get_handler("mime-delete").process(mlist, msg, state_for(msg))
    return parse_message(message_bytes(msg))


def types_of(msg: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in msg.walk()]


def alternative(plain: str = "Plain words.\n", html: str = "<p>Rich <b>words</b>.</p>") -> EmailMessage:
    msg = compose(body=plain)
    msg.add_alternative(html, subtype="html")
    return msg


def html_post(html: str, charset: str = "utf-8") -> EmailMessage:
    msg = compose()
    msg.set_content(html.encode(charset), "text", "html", cte="quoted-printable")
    msg.set_param("charset", charset)
    return msg


def test_with_filtering_off_nothing_changes(mlist, member):
    filtering(mlist, filter_types="image")
    configure_list(mlist, filter_content=False)
    out = posted(mlist, corpus_message("msg_07.txt"))
    assert "image/gif" in types_of(out)
    assert FILTERED_BY_HEADER not in out


def test_a_main_type_removes_every_part_of_that_type(mlist, member):
    filtering(mlist, filter_types="image")
    out = posted(mlist, corpus_message("msg_07.txt"))
    # Left with its text alone, the multipart became that text.
    assert types_of(out) == ["text/plain"]
    assert "This is the dingus fish." in out.get_content()
    assert out["Subject"].endswith("Here is your dingus fish")
    assert out[FILTERED_BY_HEADER] == "mime-delete"


def test_image_star_means_the_same_as_image(mlist):
    filtering(mlist, filter_types="image/*")
    assert types_of(filtered(mlist, parse_message(corpus_message("msg_07.txt")))) == ["text/plain"]


def test_a_full_type_removes_only_that_type(mlist):
    filtering(mlist, filter_types="Text/HTML\n")
    out = filtered(mlist, parse_message(corpus_message("msg_08.txt")))
    assert "text/html" not in types_of(out)
    assert "text/plain" in types_of(out)


def test_filter_extensions_read_the_file_name_ignoring_case(mlist):
    filtering(mlist, filter_extensions=".jpg")
    out = filtered(mlist, parse_message(corpus_message("msg_22.txt")))
    assert types_of(out) == ["multipart/mixed", "text/plain", "text/plain"]
    assert [part.get_content().strip() for part in out.iter_parts()] == ["Text text text."] * 2


def test_pass_types_keep_only_those_and_judge_no_multipart(mlist):
    filtering(mlist, pass_types="text/plain")
    out = filtered(mlist, parse_message(corpus_message("msg_07.txt")))
    assert types_of(out) == ["text/plain"]


def test_pass_extensions_keep_named_files_of_those_extensions_only(mlist):
    filtering(mlist, pass_extensions="gif")
    out = filtered(mlist, parse_message(corpus_message("msg_22.txt")))
    # The texts have no file name and stay; the JPEG files go.
    assert types_of(out) == ["multipart/mixed", "text/plain", "text/plain"]
    kept = filtered(filtering(mlist, pass_extensions="gif"), parse_message(corpus_message("msg_07.txt")))
    assert types_of(kept) == ["multipart/mixed", "text/plain", "image/gif"]


def test_alternatives_collapse_to_their_first_part(mlist, member):
    filtering(mlist, collapse_alternatives=True)
    out = posted(mlist, alternative())
    assert out.get_content_type() == "text/plain"
    assert out.get_content().startswith("Plain words.")


def test_alternatives_stay_when_the_list_keeps_them(mlist):
    filtering(mlist, collapse_alternatives=False)
    out = filtered(mlist, alternative())
    assert types_of(out) == ["multipart/alternative", "text/plain", "text/html"]
    assert FILTERED_BY_HEADER not in out


def test_nested_alternatives_collapse_inside_a_mixed_post(mlist):
    filtering(mlist, collapse_alternatives=True)
    out = filtered(mlist, parse_message(corpus_message("msg_38.txt")))
    assert "multipart/alternative" not in types_of(out)


def test_html_becomes_plain_text_with_its_non_ascii_letters(mlist, member):
    filtering(mlist, collapse_alternatives=False, convert_html_to_plaintext=True)
    html = "<html><body><h1>Caf\u00e9 cr\u00e8me</h1><p>Gr\u00fc\u00dfe &amp; \u65e5\u672c\u8a9e</p></body></html>"
    out = posted(mlist, html_post(html, "iso-8859-1" if html.isascii() else "utf-8"))
    assert out.get_content_type() == "text/plain"
    text = out.get_content()
    assert "Caf\u00e9 cr\u00e8me" in text
    assert "Gr\u00fc\u00dfe & \u65e5\u672c\u8a9e" in text
    assert "<" not in text


def test_latin1_html_is_read_in_its_charset(mlist):
    filtering(mlist, convert_html_to_plaintext=True)
    out = filtered(mlist, html_post("<p>Gr\u00fc\u00dfe aus K\u00f6ln</p>", "iso-8859-1"))
    assert out.get_content_charset() == "utf-8"
    assert "Gr\u00fc\u00dfe aus K\u00f6ln" in out.get_content()


def test_broken_html_is_converted_and_text_after_the_end_kept(mlist):
    filtering(mlist, convert_html_to_plaintext=True)
    html = "<html><body><p>Unclosed <div><b>bold <i>both</b> &amp nbsp;</p></body></html>\n<p>Scanned: clean</p"
    text = filtered(mlist, html_post(html)).get_content()
    assert "Unclosed" in text and "bold" in text and "both" in text
    assert "Scanned: clean" in text


def test_html_in_a_charset_that_decodes_to_lone_surrogates_is_converted(mlist):
    filtering(mlist, convert_html_to_plaintext=True)
    msg = html_post("<p>\\ud800 odd</p>", "us-ascii")
    msg.set_param("charset", "unicode-escape")
    assert filtered(mlist, msg).get_content().strip() == "\ufffd odd"


def test_the_corpus_html_post_with_a_stray_boundary_is_converted(mlist):
    filtering(mlist, convert_html_to_plaintext=True)
    out = filtered(mlist, parse_message(corpus_message("msg_40.txt")))
    assert types_of(out) == ["text/plain"]
    assert "<" not in out.get_content()


def test_an_attached_html_file_is_not_converted(mlist):
    filtering(mlist, convert_html_to_plaintext=True)
    msg = compose(body="See the page.\n")
    msg.add_attachment("<p>page</p>", subtype="html", filename="page.html")
    assert types_of(filtered(mlist, msg)) == ["multipart/mixed", "text/plain", "text/html"]


def test_html_alternative_kept_and_converted_beside_the_plain_text(mlist):
    filtering(mlist, collapse_alternatives=False, convert_html_to_plaintext=True)
    out = filtered(mlist, alternative())
    assert types_of(out) == ["multipart/alternative", "text/plain", "text/plain"]
    assert out.get_payload()[1].get_content().strip() == "Rich words."


def test_a_signed_post_is_left_exactly_as_it_came(mlist):
    filtering(mlist, filter_types="application", collapse_alternatives=True, convert_html_to_plaintext=True)
    msg = parse_message(corpus_message("msg_45.txt"))
    before = message_bytes(msg)
    get_handler("mime-delete").process(mlist, msg, state_for(msg))
    assert message_bytes(msg) == before


def test_a_signed_part_inside_a_mixed_post_keeps_its_signature(mlist):
    filtering(mlist, filter_types="image")
    signed = parse_message(corpus_message("msg_45.txt"))
    signed_part = message_bytes(signed.get_payload()[0])
    msg = compose(body="Signed mail follows.\n")
    msg.make_mixed()
    msg.attach(signed)
    msg.add_attachment(b"GIF89a", maintype="image", subtype="gif", filename="x.gif")
    out = filtered(mlist, msg)
    assert types_of(out) == [
        "multipart/mixed",
        "text/plain",
        "multipart/signed",
        "text/plain",
        "application/pgp-signature",
    ]
    assert message_bytes(out.get_payload()[1].get_payload()[0]) == signed_part


def test_an_encrypted_post_is_left_alone(mlist):
    filtering(mlist, pass_types="text/plain")
    msg = compose()
    msg.make_mixed()
    msg.replace_header("Content-Type", 'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"')
    msg.set_payload([])
    control, data = EmailMessage(), EmailMessage()
    control.set_content(b"Version: 1\n", "application", "pgp-encrypted")
    data.set_content(b"-----BEGIN PGP MESSAGE-----\n", "application", "octet-stream")
    msg.attach(control)
    msg.attach(data)
    before = message_bytes(msg)
    get_handler("mime-delete").process(mlist, msg, state_for(msg))
    assert message_bytes(msg) == before


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.glob("*.txt")))
def test_every_corpus_message_is_filtered_or_posted_never_parked(mlist, member, name):
    filtering(
        mlist,
        filter_types="image\napplication/octet-stream",
        filter_extensions="exe\nbmp",
        collapse_alternatives=True,
        convert_html_to_plaintext=True,
    )
    raw = corpus_message(name)
    if parse_message(raw)["Subject"] is None:
        # Held for that, it would never reach the filter.
        raw = b"Subject: " + name.encode() + b"\n" + raw
    inbound = deliver(mlist, raw)
    assert inbound.status in (InboundStatus.ACCEPTED, InboundStatus.DISCARDED), inbound.error
