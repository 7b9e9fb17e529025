"""What the archive pages show: a list's months, the threads of a month,
a thread as a tree, a message's neighbours and the mailto: link to reply.

Threads can be thousands of messages deep; nothing here recurses, and the
tree's nesting is capped (MAX_NESTING) where the page stops indenting.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMonth

from archive.models import ArchivedMessage, Thread
from lists.models import MailingList
from messages.pipeline.mime import UnparseableMessage, header_text, parse_message

MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
# Replies deeper than this are shown at this depth, one after the other:
# the page stays readable, and the HTML nesting stays far below what
# browsers' parsers accept (Chromium flattens past 512).
MAX_NESTING = 8


@dataclass(frozen=True)
class Month:
    start: datetime
    message_count: int
    thread_count: int

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def month(self) -> int:
        return self.start.month


def archive_months(mlist: MailingList) -> list[Month]:
    """The months in which `mlist` has archived messages, newest first, with
    how many messages were dated in each and how many threads they are in."""
    rows = (
        ArchivedMessage.objects.filter(mailing_list=mlist)
        .annotate(month=TruncMonth("date", tzinfo=UTC))
        .values("month")
        .annotate(messages=Count("pk"), threads=Count("thread", distinct=True))
        .order_by("-month")
    )
    return [Month(row["month"], row["messages"], row["threads"]) for row in rows]


def month_span(year: int, month: int) -> tuple[datetime, datetime]:
    """The first instant (UTC) of the month and of the month after; ValueError
    for a month that does not exist."""
    start = datetime(year, month, 1, tzinfo=UTC)
    if month == 12:
        return start, datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else datetime.max.replace(tzinfo=UTC)
    return start, start.replace(month=month + 1)


def parse_month(value: str) -> tuple[datetime, datetime]:
    """The span of the month written "YYYY-MM"; ValueError for anything else."""
    if not MONTH.fullmatch(value):
        raise ValueError(f"{value!r} is not a month written YYYY-MM")
    return month_span(int(value[:4]), int(value[5:]))


def month_threads(mlist: MailingList, start: datetime, end: datetime) -> QuerySet[Thread]:
    """The threads with a message dated in [start, end), most recently active first."""
    in_month = ArchivedMessage.objects.filter(mailing_list=mlist, date__gte=start, date__lt=end)
    return (
        Thread.objects.filter(mailing_list=mlist, pk__in=in_month.values("thread_id"))
        .select_related("root")
        .defer("root__raw", "root__body")
        .order_by("-last_activity", "-pk")
    )


@dataclass(frozen=True)
class TreeEntry:
    """One message of a thread page, in reading order. Its <details> stays
    open around the replies that follow when `holds_replies`; before it,
    `closes_before` of those open elements end."""

    message: ArchivedMessage
    depth: int
    holds_replies: bool
    closes_before: range


@dataclass(frozen=True)
class ThreadTree:
    entries: list[TreeEntry]
    # The elements still open after the last entry.
    closes_after: range


def thread_tree(thread: Thread) -> ThreadTree:
    """`thread`'s messages in reply order: each followed by its replies,
    oldest first, depth first. A message whose parent is not in the thread
    starts a tree of its own; a loop of parents (which threading never
    makes) is broken where it was entered."""
    messages = list(thread.messages.defer("raw").order_by("date", "pk"))
    in_thread = {message.pk for message in messages}
    replies: dict[int, list[ArchivedMessage]] = defaultdict(list)
    for message in messages:
        if message.parent_id in in_thread and message.parent_id != message.pk:
            replies[message.parent_id].append(message)
    tops = [message for message in messages if message.parent_id not in in_thread]
    ordered: list[tuple[ArchivedMessage, int]] = []
    seen: set[int] = set()
    for start in tops + messages:
        stack = [(start, 0)]
        while stack:
            message, depth = stack.pop()
            if message.pk in seen:
                continue
            seen.add(message.pk)
            ordered.append((message, depth))
            stack.extend((reply, depth + 1) for reply in reversed(replies[message.pk]))
    return nest(ordered, replies)


def nest(ordered: list[tuple[ArchivedMessage, int]], replies: dict[int, list[ArchivedMessage]]) -> ThreadTree:
    """Where each entry's element opens and closes, nesting no deeper than MAX_NESTING."""
    entries = []
    open_depths: list[int] = []
    for message, depth in ordered:
        depth = min(depth, MAX_NESTING)
        closes = 0
        while open_depths and open_depths[-1] >= depth:
            open_depths.pop()
            closes += 1
        holds = depth < MAX_NESTING and bool(replies.get(message.pk))
        if holds:
            open_depths.append(depth)
        entries.append(TreeEntry(message, depth, holds, range(closes)))
    return ThreadTree(entries, range(len(open_depths)))


def neighbours(message: ArchivedMessage) -> tuple[ArchivedMessage | None, ArchivedMessage | None]:
    """The messages of `message`'s thread just before and just after it by date."""
    siblings = ArchivedMessage.objects.filter(thread_id=message.thread_id).only(
        "message_id_hash", "subject", "sender_name", "sender_address", "date"
    )
    earlier = Q(date__lt=message.date) | Q(date=message.date, pk__lt=message.pk)
    later = Q(date__gt=message.date) | Q(date=message.date, pk__gt=message.pk)
    return (
        siblings.filter(earlier).order_by("-date", "-pk").first(),
        siblings.filter(later).order_by("date", "pk").first(),
    )


def reply_subject(subject: str) -> str:
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"


def reply_mailto(mlist: MailingList, message: ArchivedMessage) -> str:
    """A mailto: URL (RFC 6068) for a reply to `message` on the list, threaded
    on it by In-Reply-To, every value percent-encoded."""
    fields = {"In-Reply-To": f"<{message.message_id}>", "Subject": reply_subject(message.subject)}
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in fields.items())
    return f"mailto:{quote(mlist.posting_address, safe='@')}?{query}"


def recipients(raw: bytes) -> list[tuple[str, str]]:
    """The To and Cc headers of the message `raw` (decoded), those it has."""
    try:
        msg = parse_message(bytes(raw))
    except UnparseableMessage:
        return []
    return [(name, value) for name in ("To", "Cc") if (value := header_text(msg, name))]
