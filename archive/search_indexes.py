"""What the search index holds of an archived message.

Only what a query filters or ranks on is indexed, and nothing but the ids
is stored: hits are loaded from the database by id, and their snippets are
cut from the database's body (archive.search), so the index stays small.
Quoted lines (`> ...`) are left out of the text: they are indexed with the
message they quote, and a thread's replies would otherwise outrank it with
its own words.
"""

from datetime import UTC

from haystack import indexes
from whoosh.analysis import KeywordAnalyzer

from archive.models import ArchivedMessage

# Text past this is not indexed; a reader finds a message by its first pages.
MAX_INDEXED_BODY = 64 * 1024


def unquoted(body: str) -> str:
    """`body` without its quoted lines."""
    return "\n".join(line for line in body[:MAX_INDEXED_BODY].splitlines() if not line.lstrip().startswith(">"))


class ArchivedMessageIndex(indexes.SearchIndex, indexes.Indexable):
    text = indexes.CharField(document=True, stored=False)
    # A word in the subject says more about a message than one in its body (bm25 weight).
    subject = indexes.CharField(model_attr="subject", stored=False, boost=3.0)
    # Name and address, so that from:ada and from:ada@example.org both match.
    sender = indexes.CharField(stored=False)
    # The whole address as one term: from:ada@example.org is one term lookup,
    # not a phrase over words every address shares ("example", "org").
    sender_address = indexes.CharField(
        model_attr="sender_address", stored=False, analyzer=KeywordAnalyzer(lowercase=True)
    )
    mailing_list = indexes.IntegerField(model_attr="mailing_list_id", stored=False)
    thread = indexes.IntegerField(model_attr="thread_id", stored=False)
    date = indexes.DateTimeField(model_attr="date", stored=False)
    # The UTC day (date.toordinal()): what after: and before: bound. A range
    # of days is a few terms; a range of datetimes, Whoosh's trie over
    # microseconds, is thousands.
    day = indexes.IntegerField(stored=False)
    message_id_hash = indexes.CharField(model_attr="message_id_hash", stored=False, analyzer=KeywordAnalyzer())

    def get_model(self) -> type[ArchivedMessage]:
        return ArchivedMessage

    def index_queryset(self, using=None):
        # update_index / rebuild_index read in chunks; the raw bytes are not needed.
        return ArchivedMessage.objects.defer("raw")

    def prepare_day(self, message: ArchivedMessage) -> int:
        return message.date.astimezone(UTC).toordinal()

    def prepare_sender(self, message: ArchivedMessage) -> str:
        return f"{message.sender_name} {message.sender_address}"

    def prepare_text(self, message: ArchivedMessage) -> str:
        return f"{message.subject}\n{message.sender_name} {message.sender_address}\n{unquoted(message.body)}"
