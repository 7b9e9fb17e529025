"""Messages for the archive page tests, archived through archive.services,
and the Atom feed read back."""

import base64
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from archive.models import ArchivedMessage
from archive.search_indexing import index_messages
from archive.services import archive_message

START = datetime(2024, 1, 1, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


def mail(
    message_id: str,
    *,
    in_reply_to: str = "",
    date: datetime | None = None,
    sender: str = "Ann Ant <ann@example.org>",
    subject: str = "Ants",
    body: str = "Hello.\n",
    headers: tuple[str, ...] = (),
) -> bytes:
    """A plain text message (Date: `date`, default START)."""
    lines = [
        f"From: {sender}",
        "To: ant@example.com",
        f"Subject: {subject}",
        f"Date: {(date or START).strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"Message-ID: <{message_id}>",
        *headers,
    ]
    if in_reply_to:
        lines += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


def with_attachment(message_id: str, *, content_type: str, disposition: str, content: bytes) -> bytes:
    """A message with a text part and one base64 attachment whose
    Content-Disposition parameters are `disposition` (written as is)."""
    encoded = base64.encodebytes(content).decode().replace("\n", "\r\n")
    return (
        f"From: Ann Ant <ann@example.org>\r\nTo: ant@example.com\r\nSubject: Files\r\n"
        f"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        f"--b\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; {disposition}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--b--\r\n"
    ).encode()


def archive(mlist, raw: bytes) -> ArchivedMessage:
    return archive_message(mlist, raw).message


def archived(mlist, *raws: bytes) -> list[ArchivedMessage]:
    """Archive `raws` and index them, as the archive and index actors would."""
    messages = [archive(mlist, raw) for raw in raws]
    index_messages([message.pk for message in messages])
    return messages


def conversation(mlist) -> dict[str, ArchivedMessage]:
    """Two threads in January 2024 and one in March:

    root (Ann, Jan 1) <- reply (Bob, Jan 2) <- deeper (Ann, Jan 3)
                      <- second (Cat, Jan 4)
    other (Bob, Jan 10)
    march (Cat, Mar 5)
    """
    day = timedelta(days=1)
    made = {
        "root": mail("root@x", subject="Where do ants sleep?", body="In the nest, I think.\n"),
        "reply": mail("reply@x", in_reply_to="root@x", date=START + day, sender="Bob <bob@example.org>",
                      subject="Re: Where do ants sleep?", body="Deep underground.\n"),
        "deeper": mail("deeper@x", in_reply_to="reply@x", date=START + 2 * day,
                       subject="Re: Where do ants sleep?", body="How deep?\n"),
        "second": mail("second@x", in_reply_to="root@x", date=START + 3 * day, sender="Cat <cat@example.org>",
                       subject="Re: Where do ants sleep?", body="They do not sleep.\n"),
        "other": mail("other@x", date=START + 9 * day, sender="Bob <bob@example.org>", subject="Queen sighting"),
        "march": mail("march@x", date=datetime(2024, 3, 5, tzinfo=UTC), sender="Cat <cat@example.org>",
                      subject="Spring"),
    }  # fmt: skip
    return {name: archive(mlist, raw) for name, raw in made.items()}


def parse_feed(content: bytes) -> ET.Element:
    return ET.fromstring(content)  # noqa: S314  the site's own feed, in a test
