"""Reading email commands out of a message (members.command_parser): what
counts as a command, where reading stops, and what bad input does."""

import time
from email.message import EmailMessage

from members.command_parser import (
    MAX_COMMANDS,
    MAX_LINES_READ,
    MAX_QUOTED_LENGTH,
    MAX_TEXT_BYTES,
    body_text,
    parse_commands,
    parse_message_commands,
    quotable,
    strip_reply_prefix,
)
from messages.pipeline.mime import parse_message

KNOWN = {"subscribe", "join", "unsubscribe", "leave", "confirm", "help", "who"}
TOKEN = "a" * 32


def commands(subject: str = "", body: str = "") -> list[tuple[str, tuple[str, ...]]]:
    return [(command.name, command.args) for command in parse_commands(subject, body, KNOWN).commands]


def raw_message(body: bytes, content_type: str = "text/plain; charset=utf-8", **headers: str) -> EmailMessage:
    lines = [b"From: someone@example.org", b"To: ant-request@example.com", f"Content-Type: {content_type}".encode()]
    lines += [f"{name.replace('_', '-')}: {value}".encode() for name, value in headers.items()]
    return parse_message(b"\r\n".join(lines) + b"\r\n\r\n" + body)


def test_a_command_in_the_subject_is_read():
    assert commands(subject="subscribe") == [("subscribe", ())]


def test_a_command_word_is_read_in_any_case():
    assert commands(subject="SUBSCRIBE", body="Help\n") == [("subscribe", ()), ("help", ())]


def test_the_subject_comes_before_the_body():
    assert commands(subject="help", body="who\n") == [("help", ()), ("who", ())]


def test_arguments_are_the_other_words_as_written():
    assert commands(body="subscribe address=Bob@Example.org\n") == [("subscribe", ("address=Bob@Example.org",))]


def test_a_reply_prefix_before_confirm_is_dropped():
    assert commands(subject=f"Re: AW: confirm {TOKEN}") == [("confirm", (TOKEN,))]
    assert strip_reply_prefix(f"Re[2]: Fwd: confirm {TOKEN}") == f"confirm {TOKEN}"


def test_a_subject_that_is_no_command_is_not_an_error():
    parsed = parse_commands("Please add me", "subscribe\n", KNOWN)
    assert [command.name for command in parsed.commands] == ["subscribe"]
    assert parsed.unrecognized == []


def test_blank_and_quoted_lines_are_skipped():
    body = f"\n\n> confirm {TOKEN}\n>> who\n  > help\n\nsubscribe\n"
    assert commands(body=body) == [("subscribe", ())]


def test_end_stops_reading():
    parsed = parse_commands("", "help\nend\nsubscribe\n", KNOWN)
    assert [command.name for command in parsed.commands] == ["help"]
    assert parsed.unread


def test_stop_stops_reading_too():
    assert commands(body="who\nstop\nhelp\n") == [("who", ())]


def test_end_in_the_subject_reads_nothing():
    assert commands(subject="end", body="subscribe\n") == []


def test_a_signature_stops_reading():
    assert commands(body="help\n-- \nsubscribe\n") == [("help", ())]


def test_a_signature_without_its_trailing_space_stops_reading_too():
    assert commands(body="help\n--\nsubscribe\n") == [("help", ())]


def test_reading_stops_after_a_few_lines_that_are_no_commands():
    body = "Hello,\nI would like to join.\nThanks a lot,\nsubscribe\n"
    parsed = parse_commands("", body, KNOWN)
    assert parsed.commands == []
    assert parsed.unrecognized == ["Hello,", "I would like to join.", "Thanks a lot,"]
    assert parsed.unread


def test_lines_that_are_no_commands_between_commands_are_noted():
    parsed = parse_commands("", "help\nplease\nwho\n", KNOWN)
    assert [command.name for command in parsed.commands] == ["help", "who"]
    assert parsed.unrecognized == ["please"]
    assert not parsed.unread


def test_at_most_max_commands_are_read():
    parsed = parse_commands("help", "who\n" * 50, KNOWN)
    assert len(parsed.commands) == MAX_COMMANDS
    assert parsed.unread


def test_a_10000_line_body_is_read_only_as_far_as_the_line_limit():
    body = "\n" * 10_000 + "subscribe\n"
    started = time.perf_counter()
    parsed = parse_commands("", body, KNOWN)
    assert time.perf_counter() - started < 0.05
    assert parsed.commands == []
    assert parsed.unread


def test_commands_after_many_quoted_lines_are_not_read():
    body = "> quoted\n" * MAX_LINES_READ + "subscribe\n"
    assert commands(body=body) == []


def test_a_quoted_line_is_printable_and_short():
    line = quotable("subscribe\x00 \x1b[31m red \u202e" + "x" * 200)
    assert len(line) == MAX_QUOTED_LENGTH
    assert "\x00" not in line and "\x1b" not in line and "\u202e" not in line


def test_the_body_is_the_first_text_plain_part():
    msg = EmailMessage()
    msg["Subject"] = "hello"
    msg.set_content("<p>who</p>", subtype="html")
    msg.add_alternative("help\n", subtype="plain")
    assert parse_message_commands(msg, KNOWN).commands[0].name == "help"


def test_a_message_without_text_plain_has_only_its_subject():
    msg = raw_message(b"\x00\x01\x02subscribe\xff", "application/octet-stream", Subject="who")
    assert [command.name for command in parse_message_commands(msg, KNOWN).commands] == ["who"]


def test_latin_1_text_is_decoded_with_its_charset():
    msg = raw_message("Grüße\nsubscribe\n".encode("latin-1"), "text/plain; charset=iso-8859-1")
    assert body_text(msg).startswith("Grüße")
    assert commands(body=body_text(msg)) == [("subscribe", ())]


def test_bytes_invalid_in_their_charset_are_replaced():
    msg = raw_message(b"\xff\xfe\xc3\x28 junk\nhelp\n", "text/plain; charset=utf-8")
    assert "\ufffd" in body_text(msg)
    assert commands(body=body_text(msg)) == [("help", ())]


def test_an_unknown_charset_reads_as_utf_8():
    msg = raw_message("Grüße\nhelp\n".encode(), "text/plain; charset=x-no-such-charset")
    assert body_text(msg) == "Grüße\nhelp\n"


def test_a_codec_that_is_no_text_encoding_reads_as_utf_8():
    for charset in ("zlib", "rot13", "base64"):
        msg = raw_message(b"help\n", f"text/plain; charset={charset}")
        assert body_text(msg) == "help\n", charset


def test_binary_junk_in_a_text_part_finds_no_command_and_does_not_raise():
    junk = bytes(range(256)) * 64
    parsed = parse_message_commands(raw_message(junk, "text/plain; charset=utf-8"), KNOWN)
    assert parsed.commands == []


def test_only_the_start_of_a_huge_part_is_decoded():
    msg = raw_message(b"help\n" + b"x" * (4 * MAX_TEXT_BYTES), "text/plain; charset=utf-8")
    assert len(body_text(msg)) == MAX_TEXT_BYTES
