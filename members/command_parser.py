"""Reading email commands out of a message sent to `list-request@`.

The Subject is read first, then the lines of the first text/plain part,
decoded with its charset (an unknown or broken one reads as UTF-8, bad
bytes as U+FFFD). A command is a line whose first word is a command's name;
its other words are its arguments. Reading stops at the first of:

- `end` or `stop` on a line of its own (Mailman's `end`);
- a signature separator, "-- " (RFC 3676 section 4.3; "--" too, as many
  mail programs drop the trailing space);
- MAX_COMMANDS commands (Mailman's email_commands_max_lines, 10);
- MAX_UNRECOGNIZED lines that are not commands: the command mail of a
  person who writes prose around "subscribe" ends after a few lines;
- MAX_LINES_READ lines of any kind, or MAX_TEXT_BYTES of the part.

Blank lines and quoted lines ("> ...", the quoted confirmation mail in a
reply) are skipped but count towards MAX_LINES_READ, so a 10,000-line body
costs no more than its first hundred lines. An unrecognised Subject is not
an error: people write "Hello" there and the commands in the body.

Everything here is pure: no database, no settings.
"""

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from email.message import EmailMessage

from messages.pipeline.mime import first_text_plain, header_text, part_charset

MAX_COMMANDS = 10
MAX_UNRECOGNIZED = 3
MAX_LINES_READ = 100
MAX_TEXT_BYTES = 16 * 1024
# How much of a line is quoted back to the sender: enough to recognise it,
# too little to carry anybody's spam.
MAX_QUOTED_LENGTH = 76
STOP_WORDS = frozenset({"end", "stop"})
SIGNATURE = "--"
QUOTE_MARKS = (">", "|")
# "Re: ", "Fwd: ", "AW: ", "Re[2]: " ... that a reply puts before "confirm TOKEN".
REPLY_PREFIX = re.compile(r"^(\s*(re|aw|sv|vs|antw|fwd?|wg|tr)(\[\d+\])?\s*:)+", re.IGNORECASE)
# Control characters, bidirectional overrides, U+FFFD and lone surrogates.
NOT_PRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufffd\ud800-\udfff]")


@dataclass(frozen=True)
class CommandLine:
    """One command as written: `name` lower-cased, `args` as given, `line`
    shortened and made printable for quoting in the reply."""

    name: str
    args: tuple[str, ...]
    line: str


@dataclass
class ParsedCommands:
    """What a message asks for. `unrecognized` are the body lines that were
    not commands (quotable); `unread` is True when reading stopped before
    the end of the text (end, a signature or a limit)."""

    commands: list[CommandLine] = field(default_factory=list)
    unrecognized: list[str] = field(default_factory=list)
    unread: bool = False


def printable(text: str) -> str:
    """`text` on one line, without control characters or bidirectional overrides."""
    return " ".join(NOT_PRINTABLE.sub(" ", text).split())


def quotable(line: str) -> str:
    """`line` on one printable line of at most MAX_QUOTED_LENGTH characters."""
    text = printable(line)
    if len(text) > MAX_QUOTED_LENGTH:
        text = text[: MAX_QUOTED_LENGTH - 1] + "…"
    return text


def strip_reply_prefix(subject: str) -> str:
    """`Re: confirm TOKEN` -> `confirm TOKEN`."""
    return REPLY_PREFIX.sub("", subject).strip()


def body_text(msg: EmailMessage) -> str:
    """The start of the first text/plain part (at most MAX_TEXT_BYTES of it),
    decoded; "" when there is none. Never raises on bad input."""
    part = first_text_plain(msg)
    if part is None:
        return ""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    data = payload[:MAX_TEXT_BYTES]
    charset = part_charset(part) or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        # A codec Python knows that is no text encoding (charset="zlib").
        return data.decode("utf-8", "replace")


def parse_message_commands(msg: EmailMessage, known: Collection[str]) -> ParsedCommands:
    """The commands in the Subject and body of `msg`; `known` are the command
    names (aliases included) that make a line a command."""
    return parse_commands(header_text(msg, "Subject"), body_text(msg), known)


def parse_commands(subject: str, body: str, known: Collection[str]) -> ParsedCommands:
    """The commands in `subject` and then `body`, read as the module docstring says."""
    parsed = ParsedCommands()
    subject = strip_reply_prefix(subject)
    words = subject.split()
    if words and words[0].lower() in STOP_WORDS:
        parsed.unread = bool(body.strip())
        return parsed
    if words and words[0].lower() in known:
        parsed.commands.append(CommandLine(words[0].lower(), tuple(words[1:]), quotable(subject)))
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n", MAX_LINES_READ)
    if len(lines) > MAX_LINES_READ:
        rest = lines.pop()
        parsed.unread = bool(rest.strip())
    for index, line in enumerate(lines):
        if _read_line(parsed, line, known):
            parsed.unread = parsed.unread or any(later.strip() for later in lines[index + 1 :])
            break
    return parsed


def _read_line(parsed: ParsedCommands, line: str, known: Collection[str]) -> bool:
    """Take one body line into `parsed`; True when reading stops here."""
    if line.rstrip() == SIGNATURE:
        return True
    words = line.split()
    if not words or line.lstrip().startswith(QUOTE_MARKS):
        return False
    name = words[0].lower()
    if name in STOP_WORDS:
        return True
    if name in known:
        parsed.commands.append(CommandLine(name, tuple(words[1:]), quotable(line)))
        return len(parsed.commands) >= MAX_COMMANDS
    parsed.unrecognized.append(quotable(line))
    return len(parsed.unrecognized) >= MAX_UNRECOGNIZED
