"""A list's roster as its pages show it: who may see how much of it, search,
and CSV out (export) and in (an owner's mass subscription).

Owners, moderators and site admins read the whole roster (api.permissions
decides who they are). Anyone else sees, where the list's
member_roster_visibility allows it, only the members who chose to show
their address (Membership.hide_address off).
"""

import csv
import io
from collections.abc import Iterable, Iterator
from enum import Enum

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from api.permissions import Caller, can_read_roster, list_roles
from lists.models import MailingList, RosterVisibility
from members.models import Membership, Role
from members.services import CONTROL_CHARACTERS

# The columns of manage.py members --csv, so that both exports read alike.
CSV_COLUMNS = ("email", "display_name", "role", "delivery_mode", "delivery_status")
CSV_FIELDS = ("address__email", "address__display_name", "role", "delivery_mode", "delivery_status")
# A spreadsheet runs a cell that starts with one of these as a formula
# (CSV injection): such cells get a leading apostrophe, which it shows as text
# and the import takes off again. A cell that starts with an apostrophe gets
# one more, so that the round trip gives back exactly what was exported.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GUARDED_STARTS = (*FORMULA_STARTS, "'")
# An uploaded roster may hold at most this many bytes and rows.
MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_CSV_ROWS = 20_000


class RosterAccess(Enum):
    NONE = "none"
    SHOWN_MEMBERS = "shown_members"  # members who show their address, no details
    FULL = "full"  # every role, hidden addresses and delivery details


class InvalidCsv(ValueError):
    """An uploaded roster that cannot be read; str() says why, for people."""


def roster_access(user: Caller, mlist: MailingList) -> RosterAccess:
    """How much of `mlist`'s roster `user` may see."""
    if can_read_roster(user, mlist):
        return RosterAccess.FULL
    visibility = mlist.member_roster_visibility
    if visibility == RosterVisibility.PUBLIC:
        return RosterAccess.SHOWN_MEMBERS
    if visibility == RosterVisibility.MEMBERS and Role.MEMBER in list_roles(user, mlist):
        return RosterAccess.SHOWN_MEMBERS
    return RosterAccess.NONE


def roster(mlist: MailingList, access: RosterAccess, *, query: str = "", role: str = "") -> QuerySet[Membership]:
    """The memberships of `mlist` that `access` shows, matching `query` (part
    of an address or a name) and `role` when given, ordered for paging."""
    memberships = Membership.objects.filter(mailing_list=mlist).select_related("address")
    if access is RosterAccess.NONE:
        return memberships.none()
    if access is RosterAccess.SHOWN_MEMBERS:
        memberships = memberships.filter(role=Role.MEMBER, hide_address=False)
    elif role:
        memberships = memberships.filter(role=role)
    if query:
        memberships = memberships.filter(Q(address__email__icontains=query) | Q(address__display_name__icontains=query))
    return memberships.order_by("role", "address__email", "pk")


def csv_lines(memberships: QuerySet[Membership]) -> Iterator[str]:
    """The roster as CSV text, a header line and one line per membership,
    fetched in chunks so that a large roster is never held at once."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(row: Iterable[str]) -> str:
        writer.writerow(row)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(CSV_COLUMNS)
    for row in memberships.values_list(*CSV_FIELDS).iterator(chunk_size=2000):
        yield line(_guard(cell) for cell in row)


def lines_from_csv(data: bytes) -> list[str]:
    """An uploaded roster (the export's columns, or address and name) as the
    lines members.services.bulk_subscribe reads (`a@b Name`). Rows whose
    role column names another role than member are left out.

    Raises InvalidCsv for what is not UTF-8 CSV text of bounded size.
    """
    if len(data) > MAX_CSV_BYTES:
        raise InvalidCsv(_("The file is larger than %(max)d MB.") % {"max": MAX_CSV_BYTES // 2**20})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidCsv(_("The file is not UTF-8 text.")) from None
    if "\x00" in text:
        raise InvalidCsv(_("The file is not text: it holds NUL characters."))
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InvalidCsv(_("The file is not CSV: %(error)s.") % {"error": exc}) from None
    if len(rows) > MAX_CSV_ROWS + 1:
        raise InvalidCsv(_("The file has more than %(max)d rows.") % {"max": MAX_CSV_ROWS})
    name_at: int | None = 1
    role_at: int | None = None
    lines = []
    if rows and rows[0] and rows[0][0].strip().lower() == "email":
        header = [cell.strip().lower() for cell in rows.pop(0)]
        name_at = header.index("display_name") if "display_name" in header else None
        role_at = header.index("role") if "role" in header else None
        # Comments in place of the header and of rows of other roles (owners
        # in an export), so that line numbers in reports are the file's.
        lines.append("# header")
    for row in rows:
        role = row[role_at].strip() if role_at is not None and len(row) > role_at else ""
        lines.append(_line(row, name_at) if role in ("", Role.MEMBER) else "# not a member")
    return lines


def printable(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters with control characters shown as
    U+FFFD, for echoing an owner's bad input back on a page."""
    text = CONTROL_CHARACTERS.sub("\N{REPLACEMENT CHARACTER}", text)
    return text if len(text) <= limit else text[:limit] + "\N{HORIZONTAL ELLIPSIS}"


def _line(row: list[str], name_at: int | None) -> str:
    email = _unguard(row[0].strip()) if row else ""
    name = _unguard(row[name_at].strip()) if name_at is not None and len(row) > name_at else ""
    # Without an address the name is left alone on the line, to be reported invalid.
    return f"{email} {name}".strip()


def _guard(cell: str) -> str:
    return f"'{cell}" if cell.startswith(GUARDED_STARTS) else cell


def _unguard(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(GUARDED_STARTS) else cell
