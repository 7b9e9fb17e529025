"""Attachments of archived messages, served as if hostile: only images and
plain text show in the browser; anything a browser could run downloads as
application/octet-stream. Every answer forbids sniffing and sandboxes."""

import re

import pytest
from django.test import Client

from archive.models import Attachment
from tests.archive_mail import archive, with_attachment

ARCHIVE = "/lists/ant.example.com/archive/"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cf")
SCRIPT = b"<html><script>alert(document.cookie)</script></html>"


def attach(mlist, content_type: str, disposition: str = 'filename="file"', content: bytes = SCRIPT, message_id="f@x"):
    raw = with_attachment(message_id, content_type=content_type, disposition=disposition, content=content)
    return archive(mlist, raw)


def fetch(message, counter: int = 1, name: str = "file"):
    return Client().get(f"{ARCHIVE}message/{message.message_id_hash}/attachment/{counter}/{name}")


def assert_guarded(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox;")
    assert "default-src 'none'" in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "application/javascript",
        "text/javascript",
        "application/pdf",
        "application/x-msdownload",
        "message/rfc822",
        "text/x-unknown",
        "multipart/x-mixed-replace",
    ],
)
def test_what_a_browser_could_run_downloads_as_octet_stream(mlist, content_type):
    response = fetch(attach(mlist, content_type))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert_guarded(response)


def test_the_downloaded_bytes_are_the_attachments(mlist):
    assert fetch(attach(mlist, "text/html")).content == SCRIPT


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "image/gif", "image/webp"])
def test_images_show_in_the_browser_with_their_type(mlist, content_type):
    response = fetch(attach(mlist, content_type, 'filename="ant.png"', PNG))
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == 'inline; filename="ant.png"'
    assert response.content == PNG
    assert_guarded(response)


def test_plain_text_shows_as_utf8_when_it_is(mlist):
    response = fetch(attach(mlist, "text/plain", 'filename="notes.txt"', "Fourmis \u2013 ants\n".encode()))
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert_guarded(response)
    latin = fetch(attach(mlist, "text/plain", 'filename="old.txt"', "caf\xe9".encode("latin-1"), message_id="l@x"))
    assert latin["Content-Type"] == "text/plain"


@pytest.mark.parametrize(
    "disposition, expected",
    [
        ('filename="evil\\"; x=\\"y.html"', 'attachment; filename="evil\\"; x=\\"y.html"'),
        ("filename*=utf-8''a%0D%0ASet-Cookie%3A%20x%3D1.html", 'attachment; filename="aSet-Cookie: x=1.html"'),
        ("filename*=utf-8''r%C3%A9sum%C3%A9.html", "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.html"),
        ('filename="../../etc/passwd"', 'attachment; filename="_.._etc_passwd"'),
        ('filename=".."', 'attachment; filename="attachment-1"'),
        ("size=3", 'attachment; filename="attachment-1"'),
    ],
)
def test_hostile_filenames_cannot_break_out_of_the_header(mlist, disposition, expected):
    message = attach(mlist, "text/html", disposition)
    response = fetch(message)
    assert response.status_code == 200
    assert response["Content-Disposition"] == expected
    assert "Set-Cookie" not in response.headers
    page = Client().get(f"{ARCHIVE}message/{message.message_id_hash}/").content.decode()
    [link] = re.findall(r'href="([^"]*/attachment/1/[^"]*)"', page)
    assert Client().get(link).status_code == 200


def test_the_filename_in_the_url_does_not_choose_the_attachment(mlist):
    message = attach(mlist, "text/html", 'filename="a.html"')
    assert fetch(message, name="anything.png")["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("counter", ["2", "0", "9999999999", "-1", "x"])
def test_an_attachment_that_is_not_there_is_404(mlist, counter):
    message = attach(mlist, "text/html")
    assert Client().get(f"{ARCHIVE}message/{message.message_id_hash}/attachment/{counter}/file").status_code == 404


def test_the_message_page_lists_its_attachments(mlist):
    message = attach(mlist, "text/html", 'filename="report <b>.html"')
    page = Client().get(f"{ARCHIVE}message/{message.message_id_hash}/").content.decode()
    assert "report &lt;b&gt;.html" in page
    assert "text/html" in page
    assert Attachment.objects.get().filename == "report <b>.html"
