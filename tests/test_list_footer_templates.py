"""Per-list header and footer templates: which text applies, its placeholders,
owners' odd input, and each member's own footer in personalized copies."""

import base64

import pytest
from django.core.exceptions import ValidationError

from lists.models import TEMPLATE_MAX_LENGTH, ListTemplate, Personalization, TemplateName
from lists.services import InvalidSetting, configure_list, create_list, set_template
from members.one_click import one_click_url, read_token
from members.services import subscribe
from messages.delivery import send_batch
from messages.footers import Kind, load_decorations, render
from messages.handlers.decorate import Shape, shape_of
from messages.models import Post
from messages.personalize import Personalizer
from messages.pipeline.mime import message_bytes, parse_message
from tests.inbound_mail import CORPUS, compose, corpus_message, deliver
from tests.test_handler_decorate import decorate, is_contiguous_within, leaves

pytest_plugins = ["tests.delivery_support"]

ANN = "ann@example.org"
BOB = "bob@example.net"


def footer(mlist) -> str:
    return load_decorations(mlist).footer.text()


def unstuff(data: bytes) -> bytes:
    """What an SMTP server makes of DATA (RFC 5321 section 4.5.2)."""
    data = b"\r\n" + data
    return data.replace(b"\r\n..", b"\r\n.")[2:]


def copy_for(personalizer: Personalizer, email: str):
    return parse_message(unstuff(personalizer.envelope(email).data))


def text_of(msg) -> str:
    return msg.get_content().replace("\r\n", "\n")


@pytest.fixture
def personalized(mlist):
    configure_list(mlist, personalize=Personalization.FULL)
    return mlist


# Which text


def test_the_built_in_footer_names_the_list_its_address_and_its_page(mlist):
    assert footer(mlist) == (
        "_______________________________________________\n"
        "Ant mailing list -- ant@example.com\n"
        "To unsubscribe send an email to ant-leave@example.com\n"
        "http://127.0.0.1:8000/lists/ant.example.com/\n"
    )
    assert not load_decorations(mlist).header


def test_a_site_template_replaces_the_built_in_footer(mlist):
    set_template(None, TemplateName.REGULAR_FOOTER, "Site footer for $listname")
    assert footer(mlist) == "Site footer for ant@example.com"


def test_a_lists_own_template_replaces_the_sites(mlist):
    set_template(None, TemplateName.REGULAR_FOOTER, "Site footer")
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Ant footer")
    assert footer(mlist) == "Ant footer"


def test_another_lists_template_does_not_apply(mlist):
    set_template(create_list("bee@example.com"), TemplateName.REGULAR_FOOTER, "Bee footer")
    assert "Ant mailing list" in footer(mlist)


def test_a_header_comes_from_its_own_template(mlist):
    set_template(None, TemplateName.REGULAR_HEADER, "Site header")
    assert load_decorations(mlist).header.text() == "Site header"


def test_digests_have_their_own_names(mlist):
    set_template(mlist, TemplateName.DIGEST_FOOTER, "Digest footer")
    set_template(mlist, TemplateName.DIGEST_HEADER, "Digest header")
    digest = load_decorations(mlist, kind=Kind.DIGEST)
    assert (digest.header.text(), digest.footer.text()) == ("Digest header", "Digest footer")
    assert "Ant mailing list" in footer(mlist)


def test_the_lookup_is_one_query_for_header_and_footer(mlist, django_assert_num_queries):
    set_template(None, TemplateName.REGULAR_HEADER, "Site header")
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Ant footer")
    with django_assert_num_queries(1):
        load_decorations(mlist)


def test_a_template_that_is_only_blank_adds_nothing(mlist):
    ListTemplate.objects.create(mailing_list=mlist, name=TemplateName.REGULAR_FOOTER, text=" \n\t\n")
    assert not load_decorations(mlist)
    out = decorate(mlist, compose(body="Hi.\n"))
    assert out.get_content() == "Hi.\n"


def test_a_template_longer_than_the_limit_does_not_validate(mlist):
    template = ListTemplate(mailing_list=mlist, name=TemplateName.REGULAR_FOOTER, text="x" * 100_001)
    with pytest.raises(ValidationError):
        template.full_clean()


def test_an_owner_turns_the_footer_off_with_a_blank_one_and_back_on_with_an_empty_one(mlist):
    set_template(mlist, TemplateName.REGULAR_FOOTER, "  \n")
    assert not load_decorations(mlist)
    set_template(mlist, TemplateName.REGULAR_FOOTER, "")
    assert "mailing list" in footer(mlist)


def test_saving_a_template_longer_than_the_limit_is_refused_and_keeps_the_old_one(mlist):
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Short")
    with pytest.raises(InvalidSetting):
        set_template(mlist, TemplateName.REGULAR_FOOTER, "x" * (TEMPLATE_MAX_LENGTH + 1))
    assert ListTemplate.objects.get(mailing_list=mlist, name=TemplateName.REGULAR_FOOTER).text == "Short"


# Placeholders


def test_mailman_placeholders_are_filled(mlist):
    configure_list(mlist, display_name="Ants", description="All about ants")
    text = (
        "$display_name|$listname|$fqdn_listname|$list_id|$short_listname|$list_name|$domain|$mail_host|"
        "$description|$request_email|$request_address|$owner_email|$info_url|${listname}"
    )
    set_template(mlist, TemplateName.REGULAR_FOOTER, text)
    assert footer(mlist).split("|") == [
        "Ants",
        "ant@example.com",
        "ant@example.com",
        "ant.example.com",
        "ant",
        "ant",
        "example.com",
        "example.com",
        "All about ants",
        "ant-request@example.com",
        "ant-request@example.com",
        "ant-owner@example.com",
        "http://127.0.0.1:8000/lists/ant.example.com/",
        "ant@example.com",
    ]


def test_unknown_placeholders_stay_as_written(mlist):
    set_template(mlist, TemplateName.REGULAR_FOOTER, "$nope ${nope} $Display_Name costs $$5")
    assert footer(mlist) == "$nope ${nope} $Display_Name costs $5"


def test_member_placeholders_stay_as_written_on_a_list_that_is_not_personalized(mlist):
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Sent to $user_email")
    assert footer(mlist) == "Sent to $user_email"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Costs 5$", "Costs 5$"),
        ("${unclosed footer", "${unclosed footer"),
        ("${", "${"),
        ("$ $1 $-", "$ $1 $-"),
        ("${display_name", "${display_name"),
        ("{{ list.moderator_password }} %(display_name)s {display_name}", None),
        ("${listname.__class__} $listname.__class__", "${listname.__class__} ant@example.com.__class__"),
    ],
)
def test_owner_templates_that_break_the_syntax_are_used_as_written(mlist, text, expected):
    set_template(mlist, TemplateName.REGULAR_FOOTER, text)
    assert footer(mlist) == (text if expected is None else expected)
    assert decorate(mlist, compose(body="Hi.\n")).get_content().startswith("Hi.\n")


def test_line_ends_are_normalized_and_trailing_spaces_dropped(mlist):
    set_template(mlist, TemplateName.REGULAR_FOOTER, "one  \r\ntwo\rthree\t\nfour")
    assert footer(mlist) == "one\ntwo\nthree\nfour"


def test_a_footer_near_the_size_limit_is_rendered_and_added_whole(mlist):
    text = "$display_name and $nope ${ $\n" * 3_000
    set_template(mlist, TemplateName.REGULAR_FOOTER, text)
    out = decorate(mlist, compose(body="Hi.\n"))
    assert out.get_content().count("Ant and $nope ${ $\n") == 3_000


def test_render_leaves_member_slots_for_personal_copies():
    decoration = render("To $user_email at ${list_id}.", {"list_id": "ant.example.com"}, frozenset({"user_email"}))
    assert decoration.personal
    assert decoration.text({"user_email": ANN}) == f"To {ANN} at ant.example.com."


# Personalized copies


def test_the_built_in_personal_footer_names_the_member_and_their_unsubscribe_link(personalized):
    personalizer = Personalizer(personalized, corpus_message("msg_01.txt"))
    for email in (ANN, BOB):
        text = text_of(copy_for(personalizer, email))
        assert f"This copy was sent to {email}\n" in text
        url = text.rstrip().rsplit("Unsubscribe: <", 1)[1].rstrip(">")
        assert read_token("ant.example.com", url.rstrip("/").rsplit("/", 1)[1]) == email
        assert "Ant mailing list -- ant@example.com" in text


def test_each_member_gets_the_lists_own_template_filled_for_them(personalized):
    set_template(personalized, TemplateName.REGULAR_HEADER, "Dear $user_delivered_to,")
    set_template(personalized, TemplateName.REGULAR_FOOTER, "$display_name sent this to $user_email ($user_address)")
    personalizer = Personalizer(personalized, corpus_message("msg_01.txt"))
    text = text_of(copy_for(personalizer, BOB))
    assert text.startswith(f"Dear {BOB},\n\nHi,\n")
    assert text.endswith(f"Ant sent this to {BOB} ({BOB})\n")


def test_only_the_lines_holding_member_placeholders_are_made_per_member(personalized):
    personalizer = Personalizer(personalized, corpus_message("msg_01.txt"))
    made_per_member = [piece for piece in personalizer.message.body if not isinstance(piece, bytes)]
    assert len(made_per_member) == 2  # "This copy was sent to ..." and "Unsubscribe: <...>"


def test_templates_are_read_once_per_batch_not_per_member(personalized, django_assert_num_queries):
    set_template(personalized, TemplateName.REGULAR_FOOTER, "To $user_email")
    with django_assert_num_queries(1):
        personalizer = Personalizer(personalized, corpus_message("msg_01.txt"))
    with django_assert_num_queries(0):
        for number in range(50):
            personalizer.envelope(f"m{number}@example.org")


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.glob("*.txt")))
def test_every_corpus_message_gets_each_members_footer_with_its_parts_intact(personalized, name):
    # As the pipeline stores it: a header block (maybe empty), a blank line, the body.
    raw = message_bytes(parse_message(corpus_message(name)))
    personalizer = Personalizer(personalized, raw)
    original = parse_message(raw)
    shape, _text = shape_of(parse_message(raw))
    for email in (ANN, BOB):
        copy = copy_for(personalizer, email)
        assert copy["To"] == email
        assert copy["Subject"] == original["Subject"]
        if shape is Shape.INLINE:
            assert text_of(copy).startswith(text_of(original))
            assert text_of(copy).endswith(f"Unsubscribe: <{one_click_url('ant.example.com', email)}>\n")
        elif shape is Shape.NONE:
            assert copy.get_payload().replace("\r\n", "\n") == original.get_payload().replace("\r\n", "\n")
        else:
            assert copy.get_content_type() == "multipart/mixed"
            assert is_contiguous_within(leaves(original), leaves(copy))
            assert f"This copy was sent to {email}\n" in leaves(copy)[-1][1].decode()


@pytest.mark.parametrize(
    ("charset", "cte", "text"),
    [
        ("utf-8", "base64", "Gr\u00fc\u00dfe aus K\u00f6ln.\n" * 40),
        ("utf-8", "base64", "short\n"),
        ("utf-8", "quoted-printable", "a=b, long line " + "x" * 200 + "\n.leading dot\n"),
        ("iso-8859-1", "quoted-printable", "Caf\u00e9.\n"),
        ("iso-8859-1", "8bit", "Caf\u00e9.\n"),
        ("us-ascii", "7bit", ".starts with a dot\n..two\n"),
    ],
)
def test_personal_footers_join_bodies_in_every_encoding(personalized, charset, cte, text):
    msg = compose()
    msg.set_content(text, charset=charset, cte=cte)
    personalizer = Personalizer(personalized, bytes(msg))
    for email in (ANN, BOB):
        copy = copy_for(personalizer, email)
        assert copy.get_content_charset() == charset
        assert copy["Content-Transfer-Encoding"] == cte
        body = text_of(copy)
        assert body.startswith(text)
        assert f"This copy was sent to {email}\n" in body
        wire = personalizer.envelope(email).data
        assert all(len(line) <= 998 for line in wire.split(b"\r\n"))
        if cte in ("base64", "quoted-printable"):
            assert all(len(line) <= 76 for line in wire.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))


def test_a_base64_body_with_a_personal_header_is_encoded_per_member(personalized):
    set_template(personalized, TemplateName.REGULAR_HEADER, "For $user_email")
    msg = compose()
    msg.set_content("Gr\u00fc\u00dfe.\n", charset="utf-8", cte="base64")
    copy = copy_for(Personalizer(personalized, bytes(msg)), ANN)
    assert text_of(copy).startswith(f"For {ANN}\nGr\u00fc\u00dfe.\n")


def test_a_member_address_the_body_charset_cannot_carry_turns_that_copy_to_utf8(personalized):
    msg = compose()
    msg.set_content("Caf\u00e9.\n", charset="iso-8859-1", cte="quoted-printable")
    personalizer = Personalizer(personalized, bytes(msg))
    cyrillic = "\u0430\u043d\u044f@example.org"
    copy = copy_for(personalizer, cyrillic)
    assert copy.get_content_charset() == "utf-8"
    assert f"This copy was sent to {cyrillic}\n" in text_of(copy)
    assert copy_for(personalizer, ANN).get_content_charset() == "iso-8859-1"


def test_a_personal_footer_part_of_a_multipart_post_is_quoted_printable_utf8(personalized):
    set_template(personalized, TemplateName.REGULAR_FOOTER, "\u00bb $user_email \u00ab\n.dot line")
    copy = copy_for(Personalizer(personalized, corpus_message("msg_04.txt")), BOB)
    footer_part = copy.get_payload()[-1]
    assert footer_part["Content-Transfer-Encoding"] == "quoted-printable"
    assert text_of(footer_part) == f"\u00bb {BOB} \u00ab\n.dot line\n"


def test_a_personalized_post_is_stored_undecorated_and_decorated_per_member(personalized, smtpd):
    set_template(personalized, TemplateName.REGULAR_FOOTER, "Yours, $user_email")
    subscribe(personalized, "member@example.org")
    subscribe(personalized, BOB)
    deliver(personalized, compose(body="Hi all.\n"))
    post = Post.objects.get()
    assert "Yours" not in parse_message(bytes(post.raw)).get_content()
    for batch_id in post.batches.values_list("pk", flat=True):
        send_batch(batch_id)
    for email in ("member@example.org", BOB):
        [arrived] = smtpd.received_by(email)
        assert parse_message(arrived.content).get_content().replace("\r\n", "\n").endswith(f"Hi all.\nYours, {email}\n")


def test_a_bulk_post_is_stored_with_the_lists_footer(mlist, member):
    set_template(mlist, TemplateName.REGULAR_FOOTER, "Ant footer")
    deliver(mlist, compose(body="Hi all.\n"))
    post = Post.objects.get()
    assert parse_message(bytes(post.raw)).get_content().replace("\r\n", "\n") == "Hi all.\nAnt footer\n"


def test_the_sample_values_do_not_leak_into_copies(personalized):
    copy = Personalizer(personalized, corpus_message("msg_01.txt")).envelope(ANN).data
    assert b"x" * 100 not in copy
    assert base64.b64encode(b"x" * 57) not in copy


def test_a_signed_post_reaches_each_member_with_its_signed_bytes_unchanged(personalized):
    raw = corpus_message("msg_45.txt")
    signed = raw[raw.index(b"--borderline\n") : raw.index(b"--borderline--")].replace(b"\n", b"\r\n")
    stored = message_bytes(parse_message(raw))
    copy = Personalizer(personalized, stored).envelope(ANN).data
    assert signed in unstuff(copy)
    assert b"This copy was sent to ann@example.org" in copy


@pytest.mark.parametrize("name", ["msg_01.txt", "msg_04.txt"])
def test_a_copy_ends_its_last_line_when_the_footer_does_not(personalized, name):
    set_template(personalized, TemplateName.REGULAR_FOOTER, "Sent to $user_email")
    data = Personalizer(personalized, message_bytes(parse_message(corpus_message(name)))).envelope(ANN).data
    assert data.endswith(b"\r\n")
    assert f"Sent to {ANN}".encode() in data
