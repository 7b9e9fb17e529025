"""Fixtures of the processing tests; a test module takes them with
`pytest_plugins = ["tests.mail_fixtures"]`.

`smtp_sink` is a real SMTP server on loopback (aiosmtpd) that keeps what
it receives, with the site's EMAIL_* settings pointed at it; `smtp_down`
points them at a port nobody listens on.
"""

from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from messages.pipeline.mime import parse_message
from tests.ports import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return parse_message(self.data)


@dataclass
class Sink:
    received: list[Received] = field(default_factory=list)
    port: int = 0
    # The reply to every RCPT TO when set, such as "550 5.1.1 No such user".
    rcpt_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[Received]:
        return [item for item in self.received if address in item.rcpt_tos]

    def recipients(self) -> list[str]:
        return [address for item in self.received for address in item.rcpt_tos]


@pytest.fixture
def smtp_sink(settings):
    sink = Sink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    settings.EMAIL_HOST = controller.hostname
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield sink
    controller.stop()


@pytest.fixture
def smtp_down(settings):
    """EMAIL_* settings pointing at a loopback port nobody listens on."""
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_TIMEOUT = 5
