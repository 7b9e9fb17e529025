"""What the rules and handlers read of a list besides its own row: the
bans that apply to it, its header and body filters, and the texts of its
header and footer. Every post needs them; they change seldom.

So each process keeps what it read, per list, under the configuration
stamp it was read with (messages.models.ConfigurationStamp, changed by the
database in the same transaction as any change to those rows). The
inbound claim reads the stamp in the same statement that claims the post;
while the stamp is unchanged the kept configuration is used, else it is
read again. A ban or filter saved anywhere (this process or another, the
admin, the API, a bulk update, raw SQL) thus applies to the next post
claimed after its commit.

Rows read after the stamp may be newer than it, never older: a change
commits its rows and its new stamp together, so a configuration kept
under an old stamp is replaced as soon as a claim sees the new one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db.models import Subquery

from lists.models import ContentFilter, MailingList
from members.services import BanList
from messages.footers import TEMPLATE_NAMES, Kind, owner_texts
from messages.models import ConfigurationStamp
from messages.pipeline.state import PostState

# Lists whose configuration a process keeps at most; past that it starts afresh.
KEPT_LISTS = 1024


@dataclass(frozen=True)
class ListConfiguration:
    list_id: int
    bans: BanList
    # In the order they run (position, then id).
    filters: tuple[ContentFilter, ...]
    # The texts of the list's own or the site's post header and footer
    # (messages.footers.TEMPLATE_NAMES[Kind.REGULAR]) that exist.
    decoration_texts: dict[str, str]


def read_configuration(mlist: MailingList) -> ListConfiguration:
    """The configuration of `mlist` as the database has it now (three queries)."""
    filters = ContentFilter.objects.filter(mailing_list=mlist).order_by("position", "id")
    return ListConfiguration(
        list_id=mlist.pk,
        bans=BanList(mlist),
        filters=tuple(filters.only("part", "header", "pattern", "action")),
        decoration_texts=owner_texts(mlist, TEMPLATE_NAMES[Kind.REGULAR]),
    )


class KeptConfigurations:
    """The configurations this process read, by list, each under its stamp."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[int, ListConfiguration]] = {}
        self._lock = threading.Lock()

    def get(self, mlist: MailingList, stamp: int | None) -> ListConfiguration:
        """The configuration of `mlist` under `stamp`, read again unless kept
        under that stamp. A None stamp (the row is missing: a test database
        flushed) is never kept."""
        if stamp is None:
            return read_configuration(mlist)
        kept = self._kept.get(mlist.pk)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        configuration = read_configuration(mlist)
        with self._lock:
            if len(self._kept) >= KEPT_LISTS:
                self._kept.clear()
            self._kept[mlist.pk] = (stamp, configuration)
        return configuration


KEPT = KeptConfigurations()


def configuration_for(mlist: MailingList, stamp: int | None) -> ListConfiguration:
    """The configuration of `mlist`, as of `stamp` or later (see the module's docstring)."""
    return KEPT.get(mlist, stamp)


def configuration_of(mlist: MailingList, state: PostState) -> ListConfiguration:
    """The configuration a post to `mlist` is processed with: the one the
    dispatcher put in `state`, else (a rule or handler run on its own) the
    database's now, kept in `state` for the next rule."""
    if state.configuration is None or state.configuration.list_id != mlist.pk:
        state.configuration = read_configuration(mlist)
    return state.configuration


def current_stamp() -> Subquery:
    """The stamp now, as a subquery to annotate a claim with."""
    return Subquery(ConfigurationStamp.objects.values("stamp")[:1])
