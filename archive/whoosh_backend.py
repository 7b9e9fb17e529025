"""Haystack's Whoosh backend, made to search a large archive quickly.

SEARCH_URL whoosh:///path selects this engine. It differs from haystack's
own in what each query and each write costs:

- A search collects the best `end_offset` hits and stops: nothing counts
  every match (haystack's backend asks for the total, which visits every
  posting of every term), and nothing is sorted but the top hits, so the
  block-quality skipping of Whoosh's collector can pass over postings that
  cannot make the page. The hit count reported is therefore a lower bound:
  the hits up to the page asked for (archive.search asks for one more than
  a page to know whether a next page exists).
- Narrowing queries (list, model) are joined to the query with AND, so their
  postings are intersected lazily instead of each being run as a search of
  its own over the whole index.
- Only the ids are stored; no field keeps its text or a sort column; no
  spelling dictionary is built; integer fields (ids) are one term each,
  without the trie terms Whoosh adds for range queries.
- One writer per batch of documents, waiting for the index lock rather than
  spawning a thread, and a tiered merge policy: segments of similar size are
  merged once there are MERGE_FACTOR of them, so a 100,000-message import
  ends with a few segments, not hundreds, without rewriting the whole index
  on every commit.
"""

import math
import os
from datetime import UTC, datetime

from django.utils.encoding import force_str
from haystack.backends import log_query
from haystack.backends.whoosh_backend import WhooshEngine, WhooshSearchBackend, WhooshSearchQuery
from haystack.constants import DJANGO_CT, DJANGO_ID, ID
from haystack.exceptions import SearchBackendError, SkipDocument
from haystack.models import SearchResult
from haystack.utils import get_identifier, get_model_ct
from haystack.utils.app_loading import haystack_get_model
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import DATETIME, NUMERIC, TEXT, Schema
from whoosh.fields import ID as WHOOSH_ID
from whoosh.query import And, NullQuery
from whoosh.reading import SegmentReader

# Segments of one tier (a power of MERGE_FACTOR in documents) are merged
# when there are this many.
MERGE_FACTOR = 8
# Seconds a writer waits for the index lock held by another writer.
LOCK_TIMEOUT = 60.0
# Memory for a writer's postings before they spill to disk.
WRITER_LIMIT_MB = 256


def tiered_merge(writer, segments):
    """Whoosh merge policy: merge the segments of the smallest size tier
    that holds MERGE_FACTOR or more into the segment being written. Every
    document is rewritten about log(N)/log(MERGE_FACTOR) times over the
    life of the index."""
    tiers: dict[int, list] = {}
    for segment in segments:
        tiers.setdefault(int(math.log(max(segment.doc_count(), 1), MERGE_FACTOR)), []).append(segment)
    full = [tier for tier in sorted(tiers) if len(tiers[tier]) >= MERGE_FACTOR]
    if not full:
        return segments
    merging = tiers[full[0]]
    for segment in merging:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()
    return [segment for segment in segments if segment not in merging]


class ArchiveWhooshBackend(WhooshSearchBackend):
    current_searcher = None

    def build_schema(self, fields):
        """Ids stored; every other field indexed only, as its type needs."""
        # Words are runs of letters and digits: "ada@example.org" is three,
        # as archive.search cuts queries.
        analyzer = StemmingAnalyzer(expression=r"\w+")
        schema_fields = {
            ID: WHOOSH_ID(stored=True, unique=True),
            DJANGO_CT: WHOOSH_ID(stored=True),
            DJANGO_ID: WHOOSH_ID(stored=True),
        }
        content_field_name = ""
        for field_class in fields.values():
            name = field_class.index_fieldname
            if field_class.field_type in ("date", "datetime"):
                schema_fields[name] = DATETIME(stored=field_class.stored)
            elif field_class.field_type == "integer":
                # One term each, no trie: ids are matched exactly, and a range
                # (of days) enumerates the few values indexed within it.
                schema_fields[name] = NUMERIC(stored=field_class.stored, numtype=int, bits=64, shift_step=0)
            elif field_class.field_type in ("string", "text", "edge_ngram", "ngram"):
                schema_fields[name] = TEXT(
                    stored=field_class.stored,
                    analyzer=field_class.analyzer or analyzer,
                    field_boost=field_class.boost,
                )
            else:
                raise SearchBackendError(f"The archive's Whoosh backend has no mapping for {field_class!r}.")
            if field_class.document:
                content_field_name = name
        return content_field_name, Schema(**schema_fields)

    def update(self, index, iterable, commit=True):
        """Index `iterable` with one writer and one commit."""
        if not self.setup_complete:
            self.setup()
        documents = []
        for obj in iterable:
            try:
                document = index.full_prepare(obj)
            except SkipDocument:
                continue
            document.pop("boost", None)
            documents.append({key: self.whoosh_value(value) for key, value in document.items()})
        if not documents:
            return
        writer = self.index.writer(timeout=LOCK_TIMEOUT, limitmb=WRITER_LIMIT_MB)
        try:
            for document in documents:
                writer.update_document(**document)
        except BaseException:
            writer.cancel()
            raise
        writer.commit(mergetype=tiered_merge)

    def whoosh_value(self, value):
        # Whoosh's DATETIME takes naive datetimes only: UTC is stored.
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return self._from_python(value)

    def remove(self, obj_or_string, commit=True):
        self.remove_many([obj_or_string])

    def remove_many(self, objs_or_strings) -> None:
        """Remove documents by object or haystack identifier, with one writer."""
        if not self.setup_complete:
            self.setup()
        writer = self.index.writer(timeout=LOCK_TIMEOUT)
        try:
            for obj_or_string in objs_or_strings:
                writer.delete_by_term(ID, get_identifier(obj_or_string))
        except BaseException:
            writer.cancel()
            raise
        writer.commit(mergetype=tiered_merge)

    def size_on_disk(self) -> int:
        """Bytes the index takes on disk."""
        return sum(os.path.getsize(os.path.join(self.path, name)) for name in os.listdir(self.path))

    @log_query
    def search(self, query_string, start_offset=0, end_offset=None, models=None, narrow_queries=None, **kwargs):
        """The hits from `start_offset` to `end_offset`, best first; "hits"
        counts only those found up to `end_offset` (see the module)."""
        if not self.setup_complete:
            self.setup()
        query_string = force_str(query_string)
        if not query_string.strip():
            return {"results": [], "hits": 0}
        if end_offset is None:
            end_offset = start_offset + 1000
        parts = [self.parser.parse(query_string)]
        for narrow in narrow_queries or ():
            parts.append(self.parser.parse(force_str(narrow)))
        if models:
            # Unasked, every model is searched: the index holds only registered ones.
            choices = " OR ".join(f"{DJANGO_CT}:{get_model_ct(model)}" for model in models)
            parts.append(self.parser.parse(choices))
        query = And(parts).normalize()
        if query is NullQuery or end_offset <= start_offset:
            return {"results": [], "hits": 0}
        hits = self.searcher().search(query, limit=end_offset)
        results = [self.result(hit, kwargs.get("result_class")) for hit in hits[start_offset:end_offset]]
        results = [result for result in results if result is not None]
        return {"results": results, "hits": start_offset + len(results), "facets": {}, "spelling_suggestion": None}

    def setup(self):
        # Also after delete_index (rebuild_index): a kept searcher would read the old files.
        if self.current_searcher is not None:
            self.current_searcher.close()
            self.current_searcher = None
        super().setup()

    def searcher(self):
        """A searcher on the latest commit. Kept between queries (haystack keeps
        a backend per thread): opening one opens every segment's files, which
        costs more than a query. Reopened whole when the index has changed
        (Whoosh's own refresh() can bring back segments merged away)."""
        current = self.current_searcher
        if current is not None and current.reader().generation() == self.index.latest_generation():
            return current
        if current is not None:
            current.close()
        self.current_searcher = self.index.searcher()
        return self.current_searcher

    def result(self, hit, result_class) -> SearchResult | None:
        app_label, model_name = hit[DJANGO_CT].split(".")
        if haystack_get_model(app_label, model_name) is None:
            return None
        return (result_class or SearchResult)(app_label, model_name, hit[DJANGO_ID], hit.score)

    def document_count(self) -> int:
        if not self.setup_complete:
            self.setup()
        self.index = self.index.refresh()
        return self.index.doc_count()


class ArchiveWhooshEngine(WhooshEngine):
    backend = ArchiveWhooshBackend
    query = WhooshSearchQuery
