"""The archive's pages for a reader of a public archive: the months, a
month's threads, a thread as a tree, a message at its permalink, the Atom
feed and the mbox downloads."""

import io
import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.test import Client

from archive.browsing import MAX_NESTING
from archive.feeds import FEED_LENGTH
from archive.mbox import read_mbox
from archive.models import ArchivedMessage
from archive.page_views import THREADS_PER_PAGE
from lists.models import ArchivePolicy
from lists.services import configure_list
from members.services import subscribe
from tests.archive_mail import ATOM, START, archive, conversation, mail, parse_feed
from tests.conftest import logged_in, make_user
from tests.inbound_mail import CORPUS, corpus_message

ARCHIVE = "/lists/ant.example.com/archive/"


@pytest.fixture
def reader(mlist) -> Client:
    """A signed-in member: mbox downloads are for members."""
    subscribe(mlist, "reader@example.org")
    return logged_in(make_user("reader@example.org"))


@pytest.fixture
def talk(mlist):
    return conversation(mlist)


def page(path: str, **params) -> str:
    response = Client().get(path, params)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def thread_path(message: ArchivedMessage) -> str:
    return f"{ARCHIVE}thread/{message.message_id_hash}/"


def message_path(message: ArchivedMessage) -> str:
    return f"{ARCHIVE}message/{message.message_id_hash}/"


class DetailsDepth(HTMLParser):
    """How deeply <details> elements nest, and how many there are."""

    def __init__(self):
        super().__init__()
        self.depth = self.deepest = self.count = 0

    def handle_starttag(self, tag, attrs):
        if tag == "details":
            self.depth += 1
            self.count += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_endtag(self, tag):
        if tag == "details":
            self.depth -= 1


def details_of(html: str) -> DetailsDepth:
    parser = DetailsDepth()
    parser.feed(html)
    assert parser.depth == 0, "every <details> is closed"
    return parser


def test_the_index_lists_months_newest_first_with_their_counts(talk):
    content = page(ARCHIVE)
    assert "6 messages" in content and "3 threads" in content
    assert content.index("March 2024") < content.index("January 2024")
    january = re.search(r"2024/01/\">January 2024</a></th>\s*<td>(\d+)</td>\s*<td>(\d+)</td>", content)
    assert january.groups() == ("2", "5")
    march = re.search(r"2024/03/\">March 2024</a></th>\s*<td>(\d+)</td>\s*<td>(\d+)</td>", content)
    assert march.groups() == ("1", "1")
    assert "February 2024" not in content


def test_an_empty_archive_says_so(mlist):
    content = page(ARCHIVE)
    assert "Nothing is archived yet." in content
    assert "0 messages" in content


def test_the_month_page_lists_its_threads_newest_activity_first(talk):
    content = page(f"{ARCHIVE}2024/01/")
    assert "2 threads" in content
    assert content.index("Queen sighting") < content.index("Where do ants sleep?")
    row = re.search(r"Where do ants sleep\?</a></td>\s*<td>(.*?)</td>\s*<td>(\d+)</td>\s*<td>(\d+)</td>", content)
    assert row.groups() == ("Ann Ant", "4", "3")
    assert thread_path(talk["root"]) in content
    assert "2024-01-04 00:00" in content


def test_a_month_without_messages_is_an_empty_page(talk):
    assert "No messages this month." in page(f"{ARCHIVE}2024/02/")


@pytest.mark.parametrize("month", ["2024/13/", "2024/00/", "0000/01/", "2024/1/", "x/01/", "2024-01/", "99999/01/"])
def test_a_month_that_does_not_exist_is_404(talk, month):
    assert Client().get(f"{ARCHIVE}{month}").status_code == 404


def test_the_month_page_is_paginated(mlist):
    for number in range(THREADS_PER_PAGE + 3):
        archive(mlist, mail(f"t{number}@x", date=START + timedelta(minutes=number), subject=f"Topic {number}"))
    first = page(f"{ARCHIVE}2024/01/")
    assert f"{THREADS_PER_PAGE + 3} threads" in first
    assert "Page 1 of 2" in first
    assert "Topic 52<" in first and "Topic 2<" not in first
    last = page(f"{ARCHIVE}2024/01/", page="2")
    assert "Topic 2<" in last and "Topic 0<" in last


@pytest.mark.parametrize("number", ["0", "-1", "999", "abc", "1e9", "9" * 400])
def test_any_page_number_shows_a_page(talk, number):
    assert Client().get(f"{ARCHIVE}2024/01/", {"page": number}).status_code == 200


def test_the_thread_page_nests_replies_under_their_parents_in_reply_order(talk):
    content = page(thread_path(talk["root"]))
    assert "4 messages" in content and "3 participants" in content
    order = [content.index(f'id="m-{talk[name].message_id_hash}"') for name in ("root", "reply", "deeper", "second")]
    assert order == sorted(order)
    parser = details_of(content)
    assert parser.count == 4
    assert parser.deepest == 3
    for name in ("In the nest, I think.", "Deep underground.", "How deep?", "They do not sleep."):
        assert name in content


def test_any_message_of_a_thread_opens_the_whole_thread(talk):
    content = page(thread_path(talk["deeper"]))
    assert "In the nest, I think." in content
    assert f'class="archived-message selected" id="m-{talk["deeper"].message_id_hash}"' in content


@pytest.mark.slow
def test_a_reply_chain_1500_deep_is_shown_whole_with_capped_nesting(mlist):
    archive(mlist, mail("c0@x", body="Message 0.\n"))
    for number in range(1, 1500):
        raw = mail(
            f"c{number}@x",
            in_reply_to=f"c{number - 1}@x",
            date=START + timedelta(seconds=number),
            body=f"Message {number}.\n",
        )
        archive(mlist, raw)
    first = ArchivedMessage.objects.get(message_id="c0@x")
    content = page(thread_path(first))
    parser = details_of(content)
    assert parser.count == 1500
    assert parser.deepest == MAX_NESTING + 1
    assert content.index("Message 0.") < content.index("Message 1.") < content.index("Message 1499.")


def test_the_message_page_shows_headers_text_and_thread_links(talk):
    content = page(message_path(talk["reply"]))
    assert "Re: Where do ants sleep?" in content
    assert "Bob" in content and "Deep underground." in content
    assert "ant at example.com" in content
    assert "2024-01-02 00:00" in content
    assert f'href="{thread_path(talk["reply"])}#m-{talk["reply"].message_id_hash}"' in content
    assert f'rel="prev" href="{message_path(talk["root"])}"' in content
    assert f'rel="next" href="{message_path(talk["deeper"])}"' in content
    assert f'href="{message_path(talk["root"])}">Where do ants sleep?</a>' in content


def test_the_first_and_last_message_of_a_thread_link_one_way(talk):
    assert 'rel="prev"' not in page(message_path(talk["root"]))
    assert 'rel="next"' not in page(message_path(talk["second"]))


def test_reply_by_email_is_a_mailto_link_to_the_list_threaded_on_the_message(talk):
    content = page(message_path(talk["root"]))
    href = re.search(r'class="reply" href="([^"]+)"', content).group(1).replace("&amp;", "&")
    url = urlsplit(href)
    assert url.scheme == "mailto" and url.path == "ant@example.com"
    assert "%3C" in url.query and " " not in url.query and "?" not in url.query
    fields = {name: unquote(value) for name, [value] in parse_qs(url.query).items()}
    assert fields == {"In-Reply-To": "<root@x>", "Subject": "Re: Where do ants sleep?"}


def test_a_reply_to_a_reply_keeps_one_re(talk):
    content = page(message_path(talk["reply"]))
    assert "Subject=Re%3A%20Where%20do%20ants%20sleep%3F" in content
    assert "Re%3A%20Re%3A" not in content


def test_characters_with_meaning_in_a_url_are_encoded_in_the_mailto(mlist):
    message = archive(mlist, mail("a&b=c?d#e@x", subject="50% & more #1"))
    content = page(message_path(message))
    assert "In-Reply-To=%3Ca%26b%3Dc%3Fd%23e%40x%3E" in content
    assert "Subject=Re%3A%2050%25%20%26%20more%20%231" in content


@pytest.mark.parametrize("suffix", ["message/{}/", "thread/{}/"])
@pytest.mark.parametrize("hash_", ["A" * 32, "a" * 32, "A" * 31, "A" * 33, "%00" * 32, "1" * 32, "../" * 11])
def test_an_unknown_or_malformed_message_hash_is_404(talk, suffix, hash_):
    assert Client().get(ARCHIVE + suffix.format(hash_)).status_code == 404


def test_an_unknown_list_is_404(db):
    assert Client().get("/lists/nope.example.com/archive/").status_code == 404


def test_subject_sender_and_text_are_shown_as_text_never_as_markup(mlist):
    message = archive(
        mlist,
        mail(
            "xss@x",
            sender='"<img src=x onerror=alert(1)>" <evil@example.org>',
            subject="<script>alert('subject')</script>",
            body="<script>alert('body')</script>\n<b>bold</b>\n",
        ),
    )
    for path in (ARCHIVE + "2024/01/", thread_path(message), message_path(message)):
        content = page(path)
        assert "<script>alert(" not in content and "<img src=x" not in content and "<b>bold" not in content
    content = page(message_path(message))
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in content
    assert "&lt;b&gt;bold&lt;/b&gt;" in content
    assert "&lt;img src=x onerror=alert(1)&gt;" in content


def test_the_feed_carries_the_latest_messages_newest_first(mlist, talk):
    response = Client().get(ARCHIVE + "feed/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = parse_feed(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert [entry.find(f"{ATOM}title").text for entry in entries][:2] == ["Spring", "Queen sighting"]
    links = [entry.find(f"{ATOM}link").get("href") for entry in entries]
    assert links[0] == "http://testserver" + message_path(talk["march"])
    assert len(entries) == 6


def test_the_feed_is_as_long_as_it_says_and_survives_control_characters(mlist):
    for number in range(FEED_LENGTH + 5):
        archive(mlist, mail(f"f{number}@x", date=START + timedelta(hours=number), body=f"Ring \x07 {number}\x1b.\n"))
    response = Client().get(ARCHIVE + "feed/")
    feed = parse_feed(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == FEED_LENGTH
    assert "Ring  34." in entries[0].find(f"{ATOM}summary").text


def test_the_feed_shows_text_escaped_for_feed_readers(mlist):
    archive(mlist, mail("x@x", subject="<b>x</b>", body="<script>alert(1)</script>\n"))
    feed = parse_feed(Client().get(ARCHIVE + "feed/").content)
    entry = feed.find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}title").text == "<b>x</b>"
    assert entry.find(f"{ATOM}summary").get("type") == "html"
    assert "&lt;script&gt;" in entry.find(f"{ATOM}summary").text


def mbox_messages(response) -> list[bytes]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/mbox"
    return [entry.raw for entry in read_mbox(io.BytesIO(b"".join(response.streaming_content)))]


def test_the_whole_archive_downloads_as_mbox_oldest_first(talk, reader):
    response = reader.get(ARCHIVE + "export.mbox")
    assert response["Content-Disposition"] == 'attachment; filename="ant.example.com.mbox"'
    raws = mbox_messages(response)
    assert len(raws) == 6
    assert b"Message-ID: <root@x>" in raws[0] and b"Message-ID: <march@x>" in raws[-1]
    assert raws[0].replace(b"\n", b"\r\n").rstrip() == bytes(talk["root"].raw).rstrip()


def test_one_month_downloads_as_mbox(talk, reader):
    response = reader.get(ARCHIVE + "export.mbox", {"month": "2024-03"})
    assert response["Content-Disposition"] == 'attachment; filename="ant.example.com-2024-03.mbox"'
    [raw] = mbox_messages(response)
    assert b"Message-ID: <march@x>" in raw
    assert mbox_messages(reader.get(ARCHIVE + "export.mbox", {"month": "2023-12"})) == []


@pytest.mark.parametrize(
    "month", ["2024-13", "2024-00", "x", "", "2024-1", "24-01", "2024/01", "0000-01", "२०२४-०१", "2024-०१", "2024-01\n"]
)
def test_a_bad_month_for_the_mbox_is_400(talk, reader, month):
    assert reader.get(ARCHIVE + "export.mbox", {"month": month}).status_code == 400


def test_the_list_page_links_to_the_archive_for_its_readers(mlist, member):
    assert f'href="{ARCHIVE}"' in page("/lists/ant.example.com/")
    configure_list(mlist, archive_policy=ArchivePolicy.PRIVATE)
    assert f'href="{ARCHIVE}"' not in page("/lists/ant.example.com/")
    assert f'href="{ARCHIVE}"' in logged_in(member).get("/lists/ant.example.com/").content.decode()


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.iterdir()))
def test_every_corpus_message_has_its_pages(mlist, name):
    message = archive(mlist, corpus_message(name))
    for path in (message_path(message), thread_path(message), ARCHIVE, ARCHIVE + "feed/"):
        assert Client().get(path).status_code == 200, path
    for part in message.attachments.all():
        url = f"{message_path(message)}attachment/{part.counter}/x"
        assert Client().get(url)["X-Content-Type-Options"] == "nosniff"
