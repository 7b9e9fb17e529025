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

    Only a line that starts with "." can be the final one: such lines, empty
    lines and CRs are read one at a time; once a line has started with
    anything else, the end can only be the next CRLF "." CRLF, and the rest
    is one read.
    """
    received = bytearray()
    try:
        while True:
            # At the start of a line.
            if len(received) > limit:
                await skip_to_end(reader, received)
            line_start = len(received)
            head = await reader.readexactly(1)
            received += head
            if head == b".":
                received += await reader.readuntil(b"\r\n")
                if received[line_start:] == DOT_LINE_END:
                    del received[line_start:]
                    break
                continue
            if head == b"\r":
                # An empty line, or a line of CRs, ends at the first LF after
                # them (a CR may be the start of the end); any other byte
                # starts a line that cannot be the last.
                while (head := await reader.readexactly(1)) == b"\r" and len(received) <= limit:
                    received += head
                received += head
                if head in (b"\r", b"\n"):
                    continue
            received += await reader.readuntil(END_OF_DATA)
            del received[-len(DOT_LINE_END) :]
            break
    except asyncio.LimitOverrunError:
        # More than the reader's limit (above the size limit) with no end in it.
        await skip_to_end(reader, received)
    if len(received) > limit:
        raise DataTooLarge
    if received.startswith(b"."):
        del received[0]
    return bytes(received).replace(b"\r\n.", b"\r\n")


async def skip_to_end(reader: asyncio.StreamReader, received: bytes) -> None:
    """Read and drop the rest of a message over the size limit, up to its
    final line; `received` is what was read of it so far. Raises DataTooLarge."""
    # Reads end at ".\r\n" (or, with no such end within the reader's limit,
    # just before a possible start of one), so the final line is never
    # inside a read: it ends one, maybe with the CRLF before it in the last.
    tail = (b"\r\n" + received)[-len(END_OF_DATA) :]
    while not tail.endswith(END_OF_DATA):
        try:
            chunk = await reader.readuntil(DOT_LINE_END)
        except asyncio.LimitOverrunError as error:
            chunk = await reader.read(error.consumed)
        tail = (tail + chunk)[-len(END_OF_DATA) :]
    raise DataTooLarge


def simple_path(argument: str) -> tuple[str, str] | None:
    """(address, the parameters after it) of a MAIL FROM or RCPT TO argument
    such as "<ant@example.com> SIZE=100"; None when it is not that simple."""
    match = SIMPLE_PATH.match(argument)
    if match is None:
        return None
    return match[1], argument[match.end() :]
