"""Reading an LMTP transaction off the wire in fewer steps than aiosmtpd's
general code, with the same results (tests/test_lmtp_wire.py compares them).

aiosmtpd reads the message after DATA one line at a time (an await, a
debug log call and a list append per line) and parses every MAIL FROM and
RCPT TO path with the email package's header parser. For an MTA that
hands over mail all day, that was a third of the receiver's CPU a post.
"""

import asyncio
import re

END_OF_DATA = b"\r\n.\r\n"
# Only a line ending in "." can end the data (RFC 5321 section 4.1.1.4).
DOT_LINE_END = b".\r\n"
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# A path whose address is a dot-atom at a host name, between angle brackets,
# optionally followed by parameters: what MTAs send. Anything else (quoted
# local parts, address literals, comments, UTF-8, "<>") is left to aiosmtpd.
SIMPLE_PATH = re.compile(
    rf"[ \t]*<({ATEXT}(?:\.{ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?:[ \t]+|$)(?![(])", re.ASCII
)


class DataTooLarge(Exception):
    """The data went over the size limit; all of it was read."""


async def read_data(reader: asyncio.StreamReader, limit: int) -> bytes:
    """The message after DATA, read up to and without its final "." line,
    with dot-stuffing undone (RFC 5321 section 4.5.2): the bytes aiosmtpd's
    own reading gives as `original_content`.

    Raises DataTooLarge when the data (not counting the final line) is over
    `limit` bytes, once the final line has been read, so the session goes on.
    Reads in chunks that end with ".\\r\\n" (usually one chunk a message).
    """
    received = bytearray()
    size = 0
    dropping = False
    while True:
        try:
            chunk = await reader.readuntil(DOT_LINE_END)
        except asyncio.LimitOverrunError as error:
            # More than the reader's limit with no ".\r\n": over the size
            # limit, since the reader's limit is above it.
            chunk = await reader.read(error.consumed)
        size += len(chunk)
        received += chunk
        if (size == len(DOT_LINE_END) and received == DOT_LINE_END) or received.endswith(END_OF_DATA):
            break
        if size - len(DOT_LINE_END) > limit:
            # Keep only what may still be the start of the final line.
            dropping = True
            del received[: -len(END_OF_DATA)]
    if dropping or size - len(DOT_LINE_END) > limit:
        raise DataTooLarge
    del received[-len(DOT_LINE_END) :]
    if received.startswith(b"."):
        del received[0]
    return bytes(received).replace(b"\r\n.", b"\r\n")


def simple_path(argument: str) -> tuple[str, str] | None:
    """(address, the parameters after it) of a MAIL FROM or RCPT TO argument
    such as "<ant@example.com> SIZE=100"; None when it is not that simple."""
    match = SIMPLE_PATH.match(argument)
    if match is None:
        return None
    return match[1], argument[match.end() :]
