"""The administrivia rule."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from messages.pipeline import OnHit, Rule, register_rule
from messages.pipeline.mime import first_text_plain, header_text, part_text

# Mailman's email commands: keyword -> (fewest, most) arguments.
EMAIL_COMMANDS = {
    "confirm": (1, 1),
    "help": (0, 0),
    "info": (0, 0),
    "lists": (0, 0),
    "options": (0, 0),
    "password": (2, 2),
    "remove": (0, 0),
    "set": (3, 3),
    "subscribe": (0, 3),
    "unsubscribe": (0, 1),
    "who": (0, 2),
}
# Non-blank body lines looked at (Mailman's email_commands_max_lines).
MAX_LINES = 10


@register_rule
class Administrivia(Rule):
    """A post whose Subject or first lines look like an email command
    ("unsubscribe") was most likely meant for the -request address."""

    name = "administrivia"
    description = gettext_lazy("Hold email commands sent to the posting address.")
    on_hit = OnHit.DEFER

    def check(self, mlist, msg, state):
        if not mlist.administrivia:
            return False
        if not any(looks_like_command(line) for line in lines_to_check(msg)):
            return False
        state.reasons.append(_("Message contains administrivia"))
        return True


def lines_to_check(msg) -> list[str]:
    lines = [header_text(msg, "Subject")]
    part = first_text_plain(msg)
    text = part_text(part) if part is not None else None
    if text:
        lines.extend([line for line in text.splitlines() if line.strip()][:MAX_LINES])
    return lines


def looks_like_command(line: str) -> bool:
    words = line.lower().split()
    if not words or words[0] not in EMAIL_COMMANDS:
        return False
    fewest, most = EMAIL_COMMANDS[words[0]]
    return fewest <= len(words) - 1 <= most
