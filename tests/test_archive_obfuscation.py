"""Addresses in a public archive: anonymous readers see them written
"user at domain" in senders, headers, subjects, text and the feed;
signed-in readers see them as written."""

import pytest
from django.test import Client

from archive.obfuscation import obfuscate_address, obfuscate_text
from tests.archive_mail import ATOM, archive, mail, parse_feed
from tests.conftest import logged_in

ARCHIVE = "/lists/ant.example.com/archive/"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("alice@example.com", "alice at example.com"),
        ("Write to <alice@example.com>.", "Write to <alice at example.com>."),
        ("a.b+tag@mail.example.co.uk, c_d@x.org", "a.b+tag at mail.example.co.uk, c_d at x.org"),
        ("mailto:bob@example.org?subject=hi", "mailto:bob at example.org?subject=hi"),
        ("j\u00f6rg@m\u00fcnchen.example", "j\u00f6rg at m\u00fcnchen.example"),
        ("no address @ here, nor@localhost", "no address @ here, nor@localhost"),
        ("", ""),
    ],
)
def test_addresses_in_text_are_written_user_at_domain(text, expected):
    assert obfuscate_text(text) == expected


def test_one_address_is_written_user_at_domain():
    assert obfuscate_address("alice@example.com") == "alice at example.com"
    assert obfuscate_address("not an address") == "not an address"


def test_long_runs_of_address_characters_without_an_address_are_left_alone():
    for text in ["a" * 100_000 + "@", "a@" + "b" * 100_000, "x@" + "a-" * 50_000, "." * 100_000 + "@"]:
        assert "@" in obfuscate_text(text)


def test_an_overlong_local_part_still_loses_its_at():
    assert obfuscate_text("a" * 300 + "@example.com").endswith("a at example.com")


@pytest.fixture
def message(mlist):
    return archive(
        mlist,
        mail(
            "note@x",
            sender='"carol@example.net" <carol@example.net>',
            subject="Mail dave@example.net about it",
            body="Ask eve@example.net or write to <frank@example.net>.\n",
            headers=("Cc: grace@example.net",),
        ),
    )


def pages(message) -> list[str]:
    hash_ = message.message_id_hash
    return [ARCHIVE + "2024/01/", f"{ARCHIVE}thread/{hash_}/", f"{ARCHIVE}message/{hash_}/"]


ADDRESSES = ["carol", "dave", "eve", "frank", "grace"]


def test_anonymous_readers_see_no_address_on_any_page(message):
    for path in pages(message):
        content = Client().get(path).content.decode()
        assert "@example.net" not in content, path
    content = Client().get(pages(message)[-1]).content.decode()
    for name in ADDRESSES:
        assert f"{name} at example.net" in content


def test_signed_in_readers_see_addresses_as_written(message, member):
    content = logged_in(member).get(pages(message)[-1]).content.decode()
    for name in ADDRESSES:
        assert f"{name}@example.net" in content


def test_the_feed_obfuscates_for_anonymous_readers_only(message, member):
    anonymous = Client().get(ARCHIVE + "feed/").content.decode()
    assert "@example.net" not in anonymous
    assert "eve at example.net" in anonymous
    entry = parse_feed(logged_in(member).get(ARCHIVE + "feed/").content).find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}author/{ATOM}email").text == "carol@example.net"
