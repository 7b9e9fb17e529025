"""The receiver's own reading of DATA and of paths gives what aiosmtpd's
general code gives: the same bytes, the same replies, over real sockets,
however the client cuts up what it sends."""

import socket
import time
from contextlib import contextmanager

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from messages.lmtp import LMTPChannel
from messages.lmtp_wire import simple_path
from tests.ports import free_port

LIMIT = 2_000


class Recorder:
    """An aiosmtpd handler that keeps what DATA received."""

    def __init__(self):
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.original_content)
        return "250 2.0.0 kept"


class LongLinesLMTP(LMTP):
    # As the receiver: a line is limited only by the size limit.
    line_length_limit = LIMIT + 2


class StockLMTP(Controller):
    """aiosmtpd's own LMTP, with the receiver's limits."""

    def factory(self):
        return LongLinesLMTP(self.handler, data_size_limit=LIMIT, decode_data=False, enable_SMTPUTF8=True)


class OurLMTP(Controller):
    def factory(self):
        return LMTPChannel(self.handler, max_message_size=LIMIT, channels=set(), hostname="test")


@contextmanager
def serving(controller_class):
    recorder = Recorder()
    port = free_port()
    controller = controller_class(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def transaction(port: int, pieces: list[bytes]) -> list[bytes]:
    """One LMTP transaction with the data sent in `pieces` (each its own
    write, with a pause between), then NOOP; every reply line read."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"LHLO client\r\nMAIL FROM:<ant@example.org>\r\nRCPT TO:<bee@example.org>\r\nDATA\r\n")
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(0.002)
        sock.sendall(b"NOOP\r\nQUIT\r\n")
        replies = b""
        while chunk := sock.recv(65536):
            replies += chunk
    lines = replies.split(b"\r\n")
    # Reply codes only: the wording of 250 and 552 lines is the receiver's own.
    return [line[:3] for line in lines if line]


DATA = {
    "plain": [b"Subject: hi\r\n\r\nbody\r\n.\r\n"],
    "empty": [b".\r\n"],
    "dot stuffed": [b"Subject: dots\r\n\r\n..hidden\r\n...two\r\n.x\r\nend\r\n.\r\n"],
    "first line stuffed": [b"..From: x\r\n\r\nb\r\n.\r\n"],
    "lines ending in a dot": [b"Subject: s.\r\n\r\nOne.\r\nTwo.\r\n..\r\nThree.\r\n.\r\n"],
    "bare LF dots": [b"Subject: lf\n\n.\nnot the end\n.\r\n.\r\n"],
    "end cut in pieces": [b"Subject: x\r\n\r\nbody.", b"\r", b"\n", b".", b"\r", b"\n"],
    "every byte its own write": [bytes([b]) for b in b"A: b\r\n\r\n..c.\r\n.\r\n"],
    "8-bit and NUL": [b"Subject: \xe9\xff\r\n\r\n\x00\x01 caf\xc3\xa9\r\n.\r\n"],
    "over the limit": [b"Subject: big\r\n\r\n" + b"A sentence.\r\n" * 400 + b".\r\n"],
    "one line over the limit": [b"Subject: big\r\n\r\n" + b"x" * 5_000 + b"\r\n.\r\n"],
    "exactly the limit": [b"S: x\r\n\r\n" + b"y" * (LIMIT - 9) + b"\r\n.\r\n"],
    "one byte over": [b"S: x\r\n\r\n" + b"y" * (LIMIT - 8) + b"\r\n.\r\n"],
    "empty lines and a bare CR": [b"\r\n\r\n\rx\r\n\r\n.\r\n"],
    "CRs before the end": [b"a\r\n\r\r\r\n.\r\n"],
    "CRs then a dot": [b"\r.\r\n\r\r.x\r\n\n.\r\n.\r\n"],
    "CRs over the limit": [b"\r" * 3 * LIMIT + b"\n.\r\n"],
    "stuffed lines over the limit": [b"..x\r\n" * 1_000 + b".\r\n"],
    "stuffed lines over the limit, cut up": [b"..x\r\n" * 500, b"..x\r\n" * 500 + b".", b"\r\n"],
    "over the limit in one write": [b"y" * 3 * LIMIT + b"\r\n.\r\n"],
    "over the limit, end in pieces": [b"y" * 3 * LIMIT + b"\r", b"\n.\r", b"\n"],
    "then another transaction": [b"a\r\n.\r\nMAIL FROM:<c@d.e>\r\nRCPT TO:<f@g.h>\r\nDATA\r\nsecond\r\n.\r\n"],
}


@pytest.mark.parametrize("case", DATA)
def test_data_is_read_as_aiosmtpd_reads_it(case):
    with serving(StockLMTP) as (stock, stock_port), serving(OurLMTP) as (ours, our_port):
        # The receiver answers a line over the size limit as data over it
        # (LMTPChannel.replies): 552, where aiosmtpd says 500.
        stock_replies = [b"552" if code == b"500" else code for code in transaction(stock_port, DATA[case])]
        our_replies = transaction(our_port, DATA[case])

    assert our_replies == stock_replies
    assert ours.received == stock.received


def test_data_over_the_limit_is_refused_and_the_session_goes_on():
    with serving(OurLMTP) as (ours, port):
        replies = transaction(port, DATA["over the limit"])

    assert replies[-3:] == [b"552", b"250", b"221"]
    assert ours.received == []


PATHS = [
    "<ant@example.org>",
    "<ant@example.org> SIZE=100 BODY=8BITMIME",
    " <ant.bee+tag@mail-1.example.org>\t SIZE=1 ",
    "<a!#$%&'*+/=?^_`{|}~-z@x.y>",
    "<>",
    "<> SIZE=10",
    '<"quoted local"@example.org>',
    "<ant@[127.0.0.1]>",
    "<ant@example.org>(comment) SIZE=1",
    "<ant@example.org>x",
    "<ant..bee@example.org>",
    "<.ant@example.org>",
    "<ant@example..org>",
    "<ant@exämple.org>",
    "<änt@example.org>",
    "ant@example.org",
    "<ant@example.org",
    "",
]


@pytest.mark.parametrize("argument", PATHS)
def test_a_simple_path_is_parsed_as_aiosmtpd_parses_it(argument):
    stock = SMTP(Recorder())._getaddr(argument)
    ours = simple_path(argument)

    # Only what it recognises does it answer for; the rest goes to aiosmtpd.
    assert ours is None or ours == stock
    assert LMTPChannel(Recorder(), max_message_size=LIMIT, channels=set())._getaddr(argument) == stock


def test_common_paths_take_the_short_way():
    assert simple_path("<ant@example.org> SIZE=100") == ("ant@example.org", "SIZE=100")
    assert simple_path("<>") is None
