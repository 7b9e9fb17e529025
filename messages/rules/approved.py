"""The approved rule."""

import re

from django.contrib.auth.hashers import check_password
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import OnHit, Rule, register_rule
from messages.pipeline.mime import first_text_plain, header_text, part_text, set_part_text

HEADERS = ("approved", "approve", "x-approved", "x-approve")
PSEUDO_HEADER = re.compile(r"^\s*(?P<name>[A-Za-z-]+):(?P<value>.*)$")


@register_rule
class Approved(Rule):
    """The post carries the list's moderator password in an Approved:
    (Approve:, X-Approved:, X-Approve:) header, or as such a line first in
    its text/plain body; or a moderator released it from the hold queue.

    Like Mailman, the password is always taken off the message, right or
    wrong, so it never reaches the members or the archive.
    """

    name = "approved"
    description = gettext_lazy("Accept posts that carry the moderator password.")
    on_hit = OnHit.ACCEPT

    def check(self, mlist, msg, state):
        password = pop_password(msg)
        if state.approved:
            state.reasons.append(_("A moderator approved the message"))
            return True
        if password is None or not mlist.moderator_password:
            return False
        if not check_password(password, mlist.moderator_password):
            return False
        state.reasons.append(_("The message carries the moderator password"))
        return True


def pop_password(msg) -> str | None:
    """Take the approval password off `msg` and return it (None when there is none)."""
    password = None
    for name in HEADERS:
        if password is None and name in msg:
            password = header_text(msg, name)
        del msg[name]
    if password is None:
        password = pop_body_password(msg)
    return password


def pop_body_password(msg) -> str | None:
    """An `Approved: password` first body line, removed from every text part."""
    part = first_text_plain(msg)
    if part is None:
        return None
    # Strictly decoded if it can be, so that rewriting it loses nothing.
    text = part_text(part, strict=True) or part_text(part)
    if not text:
        return None
    lines = text.splitlines(keepends=True)
    number, line = next(((n, line) for n, line in enumerate(lines) if line.strip()), (0, ""))
    match = PSEUDO_HEADER.match(line)
    if match is None or match.group("name").lower() not in HEADERS:
        return None
    password = match.group("value").strip()
    del lines[number]
    set_part_text(part, "".join(lines))
    if password:
        remove_from_other_parts(msg, part, match.group("name"), password)
    if part is msg and "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"
    return password


def remove_from_other_parts(msg, done, name: str, password: str) -> None:
    """An HTML alternative carries the same line, perhaps with &nbsp; in it."""
    same_line = re.compile(re.escape(name) + r":(\xa0|\s|&nbsp;)*" + re.escape(password))
    for part in msg.walk():
        if part is done or part.is_multipart() or part.get_content_maintype() != "text":
            continue
        text = part_text(part, strict=True)
        if text and same_line.search(text):
            set_part_text(part, same_line.sub("", text))
