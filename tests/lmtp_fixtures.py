"""Mail over a real LMTP connection to the receiver, then processed as the
worker would: for end-to-end tests of what the site does with it."""

from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from messages.dispatch import process_inbound_message
from messages.models import InboundMessage
from messages.pipeline.mime import message_bytes
from tests.lmtp_client import as_mta_sends, connected, deliver, queued_ids, running_lmtp_server, use_stub_broker


@pytest.fixture
def inbound_queue(monkeypatch):
    return use_stub_broker(monkeypatch)


@pytest.fixture
def lmtp(transactional_db, inbound_queue):
    with running_lmtp_server() as server, connected(server) as client:
        yield client


@pytest.fixture
def lmtp_mail(lmtp, inbound_queue, smtp_sink):
    """Send a message over LMTP to one list address and process what was
    queued, as the worker would; the stored row."""

    def send(
        rcpt: str, *, sender: str, subject: str = "", body: str = "\n", mail_from=None, **headers
    ) -> InboundMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = rcpt
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="example.net")
        for name, value in headers.items():
            msg[name.replace("_", "-")] = value
        msg.set_content(body)
        delivery = deliver(lmtp, [rcpt], as_mta_sends(message_bytes(msg)), mail_from=mail_from or sender)
        assert delivery.data_codes == [250], delivery
        for inbound_id in queued_ids(inbound_queue):
            process_inbound_message(inbound_id)
        inbound_queue.flush_all()
        return InboundMessage.objects.get(rcpt_to=rcpt, message_id=msg["Message-ID"])

    return send
