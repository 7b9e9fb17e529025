"""The header and footer of a list's posts: which text, with its placeholders filled in.

The text is the list's own (a ListTemplate named `list:member:regular:header`
or `...:footer`, Mailman's names), else the site's (the same without a
list), else the built-in default: no header, and Mailman's footer plus the
list's page. Owners write Mailman's $placeholders. `load_decorations()`
fills in the list's in one query per post; on a personalized list it
leaves the member's ($user_email, ...) as slots, which each member's copy
fills (messages.personalize), so a footer is rendered once per post, not
once per member.

The text is the owner's and never makes a post fail: an unknown $name, a
lone $ and an unclosed ${ stay as written.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from string import Template

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from lists.models import ListTemplate, MailingList, TemplateName
from members.notices import list_context

DEFAULT_FOOTER = gettext_noop(
    "_______________________________________________\n"
    "$display_name mailing list -- $listname\n"
    "To unsubscribe send an email to ${short_listname}-leave@${domain}\n"
    "$info_url\n"
)
# A personalized copy can name its reader and carry their own one-click link.
DEFAULT_PERSONAL_FOOTER = gettext_noop(
    "_______________________________________________\n"
    "$display_name mailing list -- $listname\n"
    "This copy was sent to $user_email\n"
    "To unsubscribe send an email to ${short_listname}-leave@${domain}\n"
    "$info_url\n"
    "Unsubscribe: <$user_unsubscribe_url>\n"
)

# Filled per member on personalized lists (Mailman's names; user_address is
# its old name for user_email; the URL is ours: RFC 8058 one-click). On
# other lists they are unknown names and stay as written, as in Mailman.
MEMBER_PLACEHOLDERS = frozenset({"user_email", "user_address", "user_delivered_to", "user_unsubscribe_url"})
# The longest a member's value can be (an address: RFC 5321 section 4.5.3.1.3;
# the one-click URL of such an address is under 600), for deciding once per
# post whether a footer's lines fit a body's encoding.
LONGEST_MEMBER_VALUE = {"user_unsubscribe_url": 600}
LONGEST_ADDRESS = 254

# Mailman strips the spaces before each line end (decorate_template()).
LINE_END = re.compile(r"[ \t]*(?:\r\n|\r|\n)")


class Kind(StrEnum):
    REGULAR = "regular"
    DIGEST = "digest"


TEMPLATE_NAMES: dict[Kind, tuple[str, str]] = {
    Kind.REGULAR: (TemplateName.REGULAR_HEADER, TemplateName.REGULAR_FOOTER),
    Kind.DIGEST: (TemplateName.DIGEST_HEADER, TemplateName.DIGEST_FOOTER),
}


@dataclass(frozen=True)
class Slot:
    """Where a member's placeholder goes."""

    name: str


@dataclass(frozen=True)
class Decoration:
    """One rendered header or footer: text, and slots for the member's
    placeholders. Falsy when there is nothing to add."""

    pieces: tuple[str | Slot, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.pieces)

    @property
    def personal(self) -> bool:
        return any(isinstance(piece, Slot) for piece in self.pieces)

    def text(self, member: Mapping[str, str] | None = None) -> str:
        """The text for `member` (whose values fill the slots)."""
        member = member or {}
        return "".join(piece if isinstance(piece, str) else member[piece.name] for piece in self.pieces)

    def sample(self, char: str = "x") -> str:
        """The text with each slot filled by the longest value it can take."""
        return self.text({piece.name: char * longest(piece.name) for piece in self.pieces if isinstance(piece, Slot)})

    def ending_in_newline(self) -> "Decoration":
        last = self.pieces[-1] if self.pieces else "\n"
        if isinstance(last, str) and last.endswith("\n"):
            return self
        return Decoration((*self.pieces, "\n"))

    def lines(self) -> list["Decoration"]:
        """One Decoration per line, each ending in its newline (the last may not)."""
        lines: list[Decoration] = []
        line: list[str | Slot] = []
        for piece in self.pieces:
            if isinstance(piece, Slot):
                line.append(piece)
                continue
            *whole, rest = piece.split("\n")
            for text in whole:
                lines.append(Decoration(tuple(p for p in (*line, text + "\n") if p)))
                line = []
            if rest:
                line.append(rest)
        if line:
            lines.append(Decoration(tuple(line)))
        return lines


@dataclass(frozen=True)
class Decorations:
    header: Decoration
    footer: Decoration

    def __bool__(self) -> bool:
        return bool(self.header or self.footer)

    @property
    def personal(self) -> bool:
        return self.header.personal or self.footer.personal


def longest(placeholder: str) -> int:
    return LONGEST_MEMBER_VALUE.get(placeholder, LONGEST_ADDRESS)


def render(text: str, values: Mapping[str, str], slots: frozenset[str] = frozenset()) -> Decoration:
    """`text` with its $placeholders from `values` filled in, those named in
    `slots` left as Slots, and anything else left as written (string.Template's
    safe_substitute, which this extends). Line ends become newlines."""
    pieces: list[str | Slot] = []
    literal: list[str] = []
    position = 0
    for match in Template.pattern.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        name = match.group("named") or match.group("braced")
        if match.group("escaped") is not None:
            literal.append("$")
        elif name in values:
            literal.append(str(values[name]))
        elif name in slots:
            pieces += [LINE_END.sub("\n", "".join(literal)), Slot(name)]
            literal = []
        else:
            literal.append(match.group())
    literal.append(text[position:])
    pieces.append(LINE_END.sub("\n", "".join(literal)))
    pieces = [piece for piece in pieces if piece]
    if not any(isinstance(piece, Slot) or piece.strip() for piece in pieces):
        return Decoration()
    return Decoration(tuple(pieces))


def list_values(mlist: MailingList) -> dict[str, str]:
    """The list's placeholders: those of the list's mails, and the extra
    names Mailman's decorate handler knows."""
    values = list_context(mlist)
    values.update(
        fqdn_listname=mlist.fqdn_listname,
        list_name=mlist.list_name,
        mail_host=mlist.domain.mail_host,
        request_address=values["request_email"],
        info_url=values["list_url"],
    )
    return values


def member_values(email: str, unsubscribe_url: str) -> dict[str, str]:
    """One member's placeholders. The roster snapshot holds addresses only,
    so the copy is 'delivered to' the address it is sent to."""
    return {
        "user_email": email,
        "user_address": email,
        "user_delivered_to": email,
        "user_unsubscribe_url": unsubscribe_url,
    }


def owner_texts(mlist: MailingList, names: tuple[str, ...]) -> dict[str, str]:
    """The texts of the templates `names` for `mlist`: the list's own, else
    the site's; missing names are left out. One query."""
    templates = ListTemplate.objects.filter(Q(mailing_list=mlist) | Q(mailing_list__isnull=True), name__in=names)
    rows = list(templates.values_list("name", "mailing_list_id", "text"))
    texts = {name: text for name, list_id, text in rows if list_id is None}
    texts.update({name: text for name, list_id, text in rows if list_id is not None})
    return texts


def load_decorations(
    mlist: MailingList, *, personal: bool = False, kind: Kind = Kind.REGULAR, texts: Mapping[str, str] | None = None
) -> Decorations:
    """The header and footer of `mlist`'s posts (`kind`), rendered for the
    list; with `personal`, the member's placeholders are left as slots.
    `texts` are the owner_texts() of the kind's names when the caller has
    read them already."""
    header_name, footer_name = TEMPLATE_NAMES[kind]
    if texts is None:
        texts = owner_texts(mlist, (header_name, footer_name))
    default_footer = DEFAULT_PERSONAL_FOOTER if personal else DEFAULT_FOOTER
    values = list_values(mlist)
    slots = MEMBER_PLACEHOLDERS if personal else frozenset()
    return Decorations(
        header=render(texts.get(header_name, ""), values, slots),
        footer=render(texts.get(footer_name) or _(default_footer), values, slots),
    )
