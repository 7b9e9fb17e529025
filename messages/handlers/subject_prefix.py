"""The subject-prefix handler."""

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import Handler, register_handler
from messages.pipeline.mime import header_text
from messages.pipeline.numbering import post_number

# Reply markers in several languages, repeated or counted ("Re[2]:"), as Mailman.
REPLY_MARKERS = re.compile(r"\s*((RE|AW|SV|VS)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
NUMBER = re.compile(r"%(\d*)d")


@register_handler
class SubjectPrefix(Handler):
    """Put the list's subject prefix first in the Subject, once.

    A `%d` in the prefix (or `%05d`) becomes the post's number. An earlier
    copy of the prefix is taken out wherever it is, and reply markers after
    it are folded into one: "Re: [ant] x" becomes "[ant] Re: x".
    """

    name = "subject-prefix"
    description = gettext_lazy("Add the list's prefix to the Subject.")

    def process(self, mlist, msg, state):
        prefix = mlist.subject_prefix
        if not prefix.strip():
            return
        subject = header_text(msg, "Subject")
        state.original_subject = subject
        number = post_number(mlist, state) if NUMBER.search(prefix) else 0
        del msg["Subject"]
        msg["Subject"] = prefixed(subject, prefix, number)


def prefixed(subject: str, prefix: str, number: int) -> str:
    text = prefix_pattern(prefix).sub("", subject).strip()
    reply = REPLY_MARKERS.match(text)
    if reply:
        text = "Re: " + text[reply.end() :]
    if not text.strip():
        text = _("(no subject)")
    return NUMBER.sub(lambda match: f"%{match.group(1)}d" % number, prefix) + text


def prefix_pattern(prefix: str) -> re.Pattern:
    """Matches the prefix as posted before, whatever number it carried."""
    pieces = [re.escape(piece) for piece in NUMBER.split(prefix.strip())[::2]]
    return re.compile(r"\s*\d+\s*".join(pieces) + r"\s*")
