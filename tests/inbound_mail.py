"""Messages and stored inbound rows for the processing tests."""

from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from lists.models import MailingList
from messages.dispatch import process_inbound_message
from messages.models import Destination, InboundMessage
from messages.pipeline import PostState
from messages.pipeline.mime import find_senders, message_bytes

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "mime"


def corpus_message(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def compose(
    *,
    sender: str = "member@example.org",
    to: str = "ant@example.com",
    subject: str | None = "Hello",
    body: str = "Hi all.\n",
    **headers: str,
) -> EmailMessage:
    """A plain text message; extra headers are given with underscores (`Reply_To=...`)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if subject is not None:
        msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.org")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def receive(
    mlist: MailingList,
    msg: EmailMessage | bytes,
    *,
    destination: str = Destination.POST,
    mail_from: str = "member@example.org",
) -> InboundMessage:
    """Store `msg` as the LMTP receiver does, for `mlist`'s `destination` address."""
    raw = msg if isinstance(msg, bytes) else message_bytes(msg)
    suffix = "" if destination == Destination.POST else f"-{destination}"
    return InboundMessage.objects.create(
        mailing_list=mlist,
        destination=destination,
        mail_from=mail_from,
        rcpt_to=f"{mlist.list_name}{suffix}@{mlist.domain.mail_host}",
        raw=raw,
        size=len(raw),
        message_id=str(msg["Message-ID"] or "") if isinstance(msg, EmailMessage) else "",
        digest="0" * 64,
    )


def deliver(mlist: MailingList, msg: EmailMessage | bytes, **kwargs) -> InboundMessage:
    """Store `msg` and process it now; the row, reloaded."""
    inbound = receive(mlist, msg, **kwargs)
    process_inbound_message(inbound.pk)
    inbound.refresh_from_db()
    return inbound


def state_for(msg: EmailMessage, *, mail_from: str = "", size: int | None = None) -> PostState:
    return PostState(
        senders=find_senders(msg, mail_from),
        envelope_sender=mail_from,
        size=len(message_bytes(msg)) if size is None else size,
    )
