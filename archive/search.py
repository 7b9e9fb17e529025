"""Searching the archives: the one function the search page, the API and
the benchmark call.

A query is words, "phrases", from:someone, subject:words, after:YYYY-MM-DD
and before:YYYY-MM-DD. It is read here, never handed to the engine as
text: every term is cut down to its letters and digits and passed through
haystack's API (Clean and Exact inputs, field filters), so no input can
make an engine's query parser fail. What cannot be searched raises
SearchError with a message for the person who asked.

Hits come best first, a page at a time, from the lists the caller may
read. Their snippets are cut from the database's text of the page's hits
(the index stores no text), HTML-escaped, with the query's words in <mark>.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from haystack.inputs import Exact
from haystack.query import SearchQuerySet
from whoosh.lang.porter import stem

from api.permissions import Caller, is_site_admin
from archive.access import can_read_archive, readable_lists, shows_addresses
from archive.models import ArchivedMessage
from archive.obfuscation import displayed, obfuscate_address
from archive.search_indexes import MAX_INDEXED_BODY
from lists.models import MailingList

PAGE_SIZE = 20
# Deeper pages cost more (the engine ranks every hit up to the page); nobody reads them.
MAX_PAGE = 50
MAX_QUERY_LENGTH = 1000
MAX_TERMS = 32
# Longer "words" are base64 and hashes; the index drops them too.
MAX_WORD_LENGTH = 40
SNIPPET_LENGTH = 240
# Dates before are refused: no mail is that old, and engines format them oddly.
EARLIEST_YEAR = 1900

WORD = re.compile(r"\w+")
# An operator and its value (quoted, possibly without its closing quote), a
# phrase, or anything else up to the next space.
TOKEN = re.compile(r'(?:(\w+):)?(?:"([^"]*)"?|(\S+))')
# An address as from: takes it whole (and safely: nothing an engine's parser reads).
ADDRESS = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")


class SearchError(Exception):
    """A query that cannot be run; the message says why, for the user."""


class UnreadableArchive(SearchError):
    """The list named is not one whose archive the caller may read."""


@dataclass
class Query:
    words: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    senders: list[list[str]] = field(default_factory=list)
    sender_addresses: list[str] = field(default_factory=list)
    subjects: list[list[str]] = field(default_factory=list)
    after: date | None = None
    before: date | None = None

    def terms(self) -> list[str]:
        """The words a snippet highlights."""
        return self.words + [word for phrase in self.phrases for word in phrase]

    def is_empty(self) -> bool:
        return not (self.words or self.phrases or self.senders or self.sender_addresses or self.subjects)


@dataclass(frozen=True)
class Hit:
    message_id_hash: str
    list_id: str
    list_name: str
    thread_id: int
    subject: str
    sender_name: str
    # The address, obfuscated for callers who may not see addresses.
    sender: str
    date: datetime
    snippet: SafeString
    url: str
    score: float


@dataclass(frozen=True)
class SearchPage:
    hits: list[Hit]
    page: int
    has_next: bool


def words_of(text: str) -> list[str]:
    return [word for word in WORD.findall(text.lower()) if len(word) <= MAX_WORD_LENGTH]


def parse_date(value: str, name: str) -> date:
    """`value` as a date; SearchError unless it is YYYY-MM-DD from EARLIEST_YEAR on."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    return checked_date(day, name, value)


def checked_date(day: date | None, name: str, value: str) -> date:
    if day is None or day.year < EARLIEST_YEAR:
        message = _("%(name)s: %(value)s is not a date written YYYY-MM-DD (from %(year)d on).")
        raise SearchError(message % {"name": name, "value": value[:40], "year": EARLIEST_YEAR})
    return day


def parse_query(q: str) -> Query:
    """`q` read as words, phrases and operators; SearchError when it is too long."""
    if len(q) > MAX_QUERY_LENGTH:
        raise SearchError(_("The query is too long (at most %(max)d characters).") % {"max": MAX_QUERY_LENGTH})
    query = Query()
    for match in TOKEN.finditer(q):
        operator, quoted, bare = match.group(1), match.group(2), match.group(3)
        value = quoted if quoted is not None else bare or ""
        operator = operator.lower() if operator else None
        if operator in ("after", "before"):
            setattr(query, operator, parse_date(value, operator))
        elif operator == "from" and ADDRESS.fullmatch(value):
            query.sender_addresses.append(value.lower())
        elif operator == "from" and words_of(value):
            query.senders.append(words_of(value))
        elif operator == "subject" and words_of(value):
            query.subjects.append(words_of(value))
        elif operator is None and quoted is not None:
            if len(words_of(value)) > 1:
                query.phrases.append(words_of(value))
            else:
                query.words += words_of(value)
        else:
            # An unknown operator is searched for as words ("re:" included).
            query.words += words_of(match.group(0))
    groups = (query.words, query.sender_addresses, *query.phrases, *query.senders, *query.subjects)
    if sum(len(group) for group in groups) > MAX_TERMS:
        raise SearchError(_("The query has too many words (at most %(max)d).") % {"max": MAX_TERMS})
    return query


def search(
    user: Caller,
    q: str,
    mlist: MailingList | None = None,
    sender: str | None = None,
    after: date | None = None,
    before: date | None = None,
    page: int = 1,
) -> SearchPage:
    """Page `page` of the messages matching `q` (and the other filters), best
    first, from `mlist` or every list `user` may read. SearchError for a
    query that cannot be run; UnreadableArchive when `mlist` is not readable."""
    if not 1 <= page <= MAX_PAGE:
        raise SearchError(_("The page must be a number from 1 to %(max)d.") % {"max": MAX_PAGE})
    query = parse_query(q)
    if sender and ADDRESS.fullmatch(sender.strip()):
        query.sender_addresses.append(sender.strip().lower())
    elif sender and words_of(sender):
        query.senders.append(words_of(sender)[:MAX_TERMS])
    after = after and checked_date(after, "after", after.isoformat())
    before = before and checked_date(before, "before", before.isoformat())
    query.after = max(filter(None, [query.after, after]), default=None)
    query.before = min(filter(None, [query.before, before]), default=None)
    if query.is_empty():
        raise SearchError(_("Enter words to search for."))
    if mlist is not None and not can_read_archive(user, mlist):
        raise UnreadableArchive(_("No such list."))
    lists = [mlist.pk] if mlist is not None else searched_lists(user)
    if lists == []:
        return SearchPage([], page, has_next=False)
    start = (page - 1) * PAGE_SIZE
    # One more than a page: whether a next page exists, without counting hits.
    results = list(search_queryset(query, lists)[start : start + PAGE_SIZE + 1])
    hits = page_hits(results[:PAGE_SIZE], query, user, lists)
    return SearchPage(hits, page, has_next=len(results) > PAGE_SIZE)


def searched_lists(user: Caller) -> list[int] | None:
    """The ids of the lists `user` may read; None when that is all of them,
    so that the engine has no filter to apply."""
    if is_site_admin(user):
        return None
    lists = list(readable_lists(user).values_list("pk", flat=True))
    # Counted after: a list made in between makes the counts differ, and is filtered out.
    return None if len(lists) == MailingList.objects.count() else lists


def search_queryset(query: Query, lists: list[int] | None) -> SearchQuerySet:
    sqs = SearchQuerySet()
    for word in query.words:
        sqs = sqs.filter(content=word)
    for phrase in query.phrases:
        sqs = sqs.filter(content=Exact(" ".join(phrase)))
    for words in query.senders:
        sqs = sqs.filter(sender=Exact(" ".join(words)))
    for address in query.sender_addresses:
        sqs = sqs.filter(sender_address=Exact(address))
    for words in query.subjects:
        sqs = sqs.filter(subject=Exact(" ".join(words)))
    if query.after or query.before:
        # One closed range: two open ones would each span most of the archive.
        first = (query.after or date(EARLIEST_YEAR, 1, 1)).toordinal()
        last = (query.before or date.max).toordinal() - (1 if query.before else 0)
        sqs = sqs.filter(day__range=[first, last])
    if lists is not None:
        sqs = sqs.filter(mailing_list__in=lists)
    return sqs


def page_hits(results: list, query: Query, user: Caller, lists: list[int] | None) -> list[Hit]:
    """The hits of `results` in their order, from the database; a message
    deleted since it was indexed, or of a list not readable, is left out."""
    ids = [int(result.pk) for result in results]
    messages = ArchivedMessage.objects.filter(pk__in=ids).select_related("mailing_list__domain").defer("raw")
    if lists is not None:
        messages = messages.filter(mailing_list__in=lists)
    by_id = {message.pk: message for message in messages}
    show = shows_addresses(user)
    hits = []
    for result in results:
        message = by_id.get(int(result.pk))
        if message is None:
            continue
        hits.append(
            Hit(
                message_id_hash=message.message_id_hash,
                list_id=message.mailing_list.list_id,
                list_name=message.mailing_list.fqdn_listname,
                thread_id=message.thread_id,
                subject=displayed(message.subject, show),
                sender_name=displayed(message.sender_name, show),
                sender=message.sender_address if show else obfuscate_address(message.sender_address),
                date=message.date,
                snippet=snippet(displayed(message.body, show), query.terms()),
                url=permalink(message),
                score=float(result.score or 0),
            )
        )
    return hits


def permalink(message: ArchivedMessage) -> str:
    """The message's page (archive.page_urls' archive-message)."""
    return f"/lists/{message.mailing_list.list_id}/archive/message/{message.message_id_hash}/"


def snippet(body: str, terms: list[str]) -> SafeString:
    """Some SNIPPET_LENGTH characters of `body` around the first of `terms`
    found (as words or their stems), escaped, the terms marked."""
    stems = sorted({stem(term) for term in terms} | set(terms), key=len, reverse=True)
    pattern = (
        re.compile(r"\b(?:" + "|".join(re.escape(word) for word in stems) + r")\w*", re.IGNORECASE) if stems else None
    )
    text = " ".join(body[:MAX_INDEXED_BODY].split())
    found = pattern.search(text) if pattern else None
    start = max(0, found.start() - SNIPPET_LENGTH // 3) if found else 0
    excerpt = text[start : start + SNIPPET_LENGTH]
    parts, position = [], 0
    for match in pattern.finditer(excerpt) if pattern else ():
        parts.append(escape(excerpt[position : match.start()]))
        parts.append(f"<mark>{escape(match.group(0))}</mark>")
        position = match.end()
    parts.append(escape(excerpt[position:]))
    prefix = "…" if start else ""
    suffix = "…" if start + SNIPPET_LENGTH < len(text) else ""
    return mark_safe(prefix + "".join(parts) + suffix)  # noqa: S308  every piece is escaped above
