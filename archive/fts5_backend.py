"""A haystack engine on SQLite FTS5: the archive's embedded search index.

SEARCH_URL sqlite:///path (or fts5:///path) selects it; the index is an
SQLite file of its own, apart from the site's database. Tokenizing,
postings, phrases and bm25 ranking all run in SQLite's C, which is what
makes it faster than Whoosh to build and to search.

The index is two tables sharing a rowid:

- `texts`, an FTS5 table with a column per analysed text field (the
  document field `text`, `subject`, `sender`), stemmed (porter) and
  folded (unicode61, diacritics removed);
- `documents`, a plain table with haystack's identifier, the model and
  pk, and every other field: integers and dates, and the keyword fields
  (a CharField given an analyzer of its own, as the index gives the
  address and the hash) matched whole and without regard to case.

Queries are built by Fts5SearchQuery from haystack's filters, never from
text: every term becomes an FTS5 string (its double quotes doubled), so
no input is a syntax error, and filters on plain columns become SQL with
parameters. Filters AND-ed are what it translates: `field=` words (Clean)
or a phrase (Exact) on text fields (`content` searches them all), and
`=`, `__in`, `__range`, `__gt`/`__gte`/`__lt`/`__lte` on plain ones;
anything else raises UnsupportedQuery. As with archive.whoosh_backend,
only the hits up to `end_offset` are ranked and returned, and "hits"
counts those: nothing counts every match.
"""

import os
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from haystack import connections
from haystack.backends import BaseEngine, BaseSearchBackend, BaseSearchQuery, SearchNode, log_query
from haystack.constants import DJANGO_CT, DJANGO_ID, ID
from haystack.exceptions import SearchBackendError, SkipDocument
from haystack.models import SearchResult
from haystack.utils import get_identifier, get_model_ct
from haystack.utils.app_loading import haystack_get_model

TOKENIZER = "porter unicode61 remove_diacritics 2"
TEXT_TYPES = ("string", "text", "edge_ngram", "ngram")
# Seconds a writer (or a reader) waits for another process's write to finish.
BUSY_TIMEOUT = 60.0
# Pages of the file kept in memory per connection (negative: KiB).
CACHE_SIZE_KIB = 64 * 1024
# Field names are written into SQL (as quoted identifiers and FTS5 column
# filters), so only these are accepted; values are always parameters.
NAME = re.compile(r"[A-Za-z_]\w*")


class UnsupportedQuery(SearchBackendError):
    """A haystack query this engine cannot translate (OR, NOT, raw text, ...)."""


def fts_string(text: str) -> str:
    """`text` as an FTS5 string: a word, or a phrase of its words; never syntax."""
    # SQLite reads the expression as a C string: a NUL would end it early.
    return '"' + text.replace("\x00", " ").replace('"', '""') + '"'


def column_value(value):
    """What SQLite stores of a field's value: datetimes in UTC, ISO-written."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        raise SearchBackendError("The FTS5 backend has no multi-valued fields.")
    return value


@dataclass
class Fts5Query:
    """A query as the backend runs it: an FTS5 MATCH expression (terms AND-ed)
    and SQL conditions on `documents` (alias d) with their parameters."""

    terms: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    params: list = field(default_factory=list)

    def match(self) -> str:
        return " AND ".join(self.terms)

    def __str__(self) -> str:
        return " AND ".join([*self.terms, *self.conditions]) + (f" {self.params}" if self.params else "")


@dataclass(frozen=True)
class Schema:
    """Which fields are FTS5 columns (with their bm25 weights) and which plain."""

    texts: dict[str, float]
    plain: dict[str, str]

    @classmethod
    def of(cls, fields: dict) -> "Schema":
        texts, plain = {}, {}
        for field_class in fields.values():
            name = field_class.index_fieldname
            if not NAME.fullmatch(name) or name in (ID, DJANGO_CT, DJANGO_ID):
                raise SearchBackendError(f"The FTS5 backend cannot index a field named {name!r}.")
            if field_class.field_type in TEXT_TYPES and field_class.analyzer is None:
                texts[name] = float(field_class.boost)
            elif field_class.field_type in TEXT_TYPES:
                plain[name] = "TEXT COLLATE NOCASE"
            elif field_class.field_type in ("integer", "boolean"):
                plain[name] = "INTEGER"
            elif field_class.field_type == "float":
                plain[name] = "REAL"
            elif field_class.field_type in ("date", "datetime"):
                plain[name] = "TEXT"
            else:
                raise SearchBackendError(f"The FTS5 backend has no column type for {field_class!r}.")
        return cls(texts, plain)

    def statements(self) -> list[str]:
        plain = "".join(f', "{name}" {kind}' for name, kind in self.plain.items())
        texts = ", ".join(f'"{name}"' for name in self.texts)
        keywords = [name for name, kind in self.plain.items() if kind.startswith("TEXT COLLATE")]
        return [
            f"CREATE TABLE IF NOT EXISTS documents (rowid INTEGER PRIMARY KEY, {ID} TEXT NOT NULL UNIQUE,"
            f" {DJANGO_CT} TEXT NOT NULL, {DJANGO_ID} TEXT NOT NULL{plain})",
            *(f'CREATE INDEX IF NOT EXISTS documents_{name} ON documents ("{name}")' for name in keywords),
            f"CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5({texts}, tokenize='{TOKENIZER}')",
        ]


class Fts5SearchBackend(BaseSearchBackend):
    def __init__(self, connection_alias, **connection_options):
        super().__init__(connection_alias, **connection_options)
        if not connection_options.get("PATH"):
            raise SearchBackendError(f"The FTS5 connection '{connection_alias}' needs a PATH (the index file).")
        self.path = Path(connection_options["PATH"])
        self.connection: sqlite3.Connection | None = None
        self.pid = None
        self.schema: Schema | None = None

    def db(self) -> sqlite3.Connection:
        """This process's connection to the index, the tables made if need be."""
        if self.connection is None or self.pid != os.getpid():
            # A connection is never used across fork() (the import's indexing process).
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")
            self.connection.execute(f"PRAGMA cache_size=-{CACHE_SIZE_KIB}")
            self.pid = os.getpid()
            self.schema = None
        if self.schema is None:
            self.schema = Schema.of(connections[self.connection_alias].get_unified_index().all_searchfields())
            for statement in self.schema.statements():
                self.connection.execute(statement)
        return self.connection

    def setup(self):
        self.db()
        self.setup_complete = True

    def fields(self) -> Schema:
        """Which fields are text and which plain, in the index's order."""
        self.db()
        return self.schema

    def update(self, index, iterable, commit=True):
        """Index `iterable` (replacing what the index held of each) in one transaction."""
        db = self.db()
        texts, plain = list(self.schema.texts), list(self.schema.plain)
        columns = ", ".join([ID, DJANGO_CT, DJANGO_ID, *(f'"{name}"' for name in plain)])
        insert_document = f"INSERT INTO documents ({columns}) VALUES ({', '.join('?' * (3 + len(plain)))})"  # noqa: S608
        columns = ", ".join(["rowid", *(f'"{name}"' for name in texts)])
        insert_text = f"INSERT INTO texts ({columns}) VALUES ({', '.join('?' * (1 + len(texts)))})"  # noqa: S608
        db.execute("BEGIN IMMEDIATE")
        try:
            for obj in iterable:
                try:
                    document = index.full_prepare(obj)
                except SkipDocument:
                    continue
                self.delete(db, document[ID])
                row = [document[ID], document[DJANGO_CT], str(document[DJANGO_ID])]
                row += [column_value(document.get(name)) for name in plain]
                rowid = db.execute(insert_document, row).lastrowid
                db.execute(insert_text, [rowid, *(str(document.get(name) or "") for name in texts)])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def delete(self, db: sqlite3.Connection, identifier: str) -> None:
        found = db.execute(f"SELECT rowid FROM documents WHERE {ID} = ?", [identifier]).fetchone()  # noqa: S608
        if found:
            db.execute("DELETE FROM texts WHERE rowid = ?", found)
            db.execute("DELETE FROM documents WHERE rowid = ?", found)

    def remove(self, obj_or_string, commit=True):
        self.remove_many([obj_or_string])

    def remove_many(self, objs_or_strings) -> None:
        """Remove documents by object or haystack identifier, in one transaction."""
        db = self.db()
        db.execute("BEGIN IMMEDIATE")
        try:
            for obj_or_string in objs_or_strings:
                self.delete(db, get_identifier(obj_or_string))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def clear(self, models=None, commit=True):
        """Empty the index, or remove the documents of `models` from it."""
        db = self.db()
        if models is None:
            db.execute("DROP TABLE IF EXISTS texts")
            db.execute("DROP TABLE IF EXISTS documents")
            db.execute("VACUUM")
            self.schema = None
            self.db()
            return
        cts = [get_model_ct(model) for model in models]
        chosen = f"SELECT rowid FROM documents WHERE {DJANGO_CT} IN ({', '.join('?' * len(cts))})"  # noqa: S608
        db.execute("BEGIN IMMEDIATE")
        db.execute(f"DELETE FROM texts WHERE rowid IN ({chosen})", cts)  # noqa: S608
        db.execute(f"DELETE FROM documents WHERE rowid IN ({chosen})", cts)  # noqa: S608
        db.execute("COMMIT")

    @log_query
    def search(self, query_string, start_offset=0, end_offset=None, models=None, narrow_queries=None, **kwargs):
        """The hits from `start_offset` to `end_offset`, best first (bm25, weighted
        by the fields' boost), or most recently indexed first when no text is
        searched; "hits" counts only those found up to `end_offset`."""
        if not isinstance(query_string, Fts5Query):
            raise UnsupportedQuery("The FTS5 backend runs only queries built by SearchQuerySet, not raw text.")
        if narrow_queries:
            raise UnsupportedQuery("The FTS5 backend has no narrow queries; use filter().")
        if end_offset is None:
            end_offset = start_offset + 1000
        if end_offset <= start_offset:
            return {"results": [], "hits": 0}
        db = self.db()
        conditions, params = list(query_string.conditions), list(query_string.params)
        if models:
            cts = [get_model_ct(model) for model in models]
            conditions.append(f"d.{DJANGO_CT} IN ({', '.join('?' * len(cts))})")
            params += cts
        where = "".join(f" AND {condition}" for condition in conditions)
        limits = [end_offset - start_offset, start_offset]
        if query_string.terms:
            weights = ", ".join(str(weight) for weight in self.schema.texts.values())
            sql = (
                f"SELECT d.{DJANGO_CT}, d.{DJANGO_ID}, -bm25(texts, {weights}) AS score"  # noqa: S608
                f" FROM texts JOIN documents AS d ON d.rowid = texts.rowid"
                f" WHERE texts MATCH ?{where} ORDER BY score DESC LIMIT ? OFFSET ?"
            )
            rows = db.execute(sql, [query_string.match(), *params, *limits]).fetchall()
        else:
            sql = f"SELECT d.{DJANGO_CT}, d.{DJANGO_ID}, 0.0 FROM documents AS d WHERE 1{where}"  # noqa: S608
            rows = db.execute(f"{sql} ORDER BY d.rowid DESC LIMIT ? OFFSET ?", [*params, *limits]).fetchall()
        result_class = kwargs.get("result_class") or SearchResult
        results = []
        for content_type, pk, score in rows:
            app_label, model_name = content_type.split(".")
            if haystack_get_model(app_label, model_name) is not None:
                results.append(result_class(app_label, model_name, pk, score))
        return {"results": results, "hits": start_offset + len(results), "facets": {}, "spelling_suggestion": None}

    def document_count(self) -> int:
        return self.db().execute("SELECT count(*) FROM documents").fetchone()[0]

    def size_on_disk(self) -> int:
        """Bytes the index takes on disk, its write-ahead log included."""
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return sum(path.stat().st_size for path in files if path.exists())


class Fts5SearchQuery(BaseSearchQuery):
    def build_query(self) -> Fts5Query:
        """The filters as an Fts5Query; UnsupportedQuery for what has no translation."""
        query = Fts5Query()
        self.translate(self.query_filter, query)
        return query

    def translate(self, node: SearchNode, query: Fts5Query) -> None:
        if node.negated or (node.connector != SearchNode.AND and len(node.children) > 1):
            raise UnsupportedQuery("The FTS5 backend translates filters AND-ed, not OR or NOT.")
        for child in node.children:
            if isinstance(child, SearchNode):
                self.translate(child, query)
            else:
                expression, value = child
                self.translate_filter(query, *node.split_expression(expression), value)

    def translate_filter(self, query: Fts5Query, field: str, filter_type: str, value) -> None:
        kind = getattr(value, "input_type_name", "python_data")
        if kind not in ("clean", "exact", "python_data"):
            raise UnsupportedQuery(f"The FTS5 backend has no translation for {kind} input.")
        value = getattr(value, "query_string", value)
        schema = self.backend.fields()
        name = "" if field == "content" else connections[self._using].get_unified_index().get_index_fieldname(field)
        if name == "" or name in schema.texts:
            if filter_type not in ("content", "exact") or not isinstance(value, str):
                raise UnsupportedQuery(f"Text field {field!r} takes words or a phrase, not {filter_type}.")
            scope = f"{{{name}}} : " if name else ""
            if kind == "exact" or filter_type == "exact":
                query.terms.append(scope + fts_string(value))
            else:
                query.terms += [scope + fts_string(word) for word in value.split()]
        elif name in schema.plain:
            self.translate_condition(query, name, filter_type, value)
        else:
            raise UnsupportedQuery(f"No field {field!r} in the search index.")

    def translate_condition(self, query: Fts5Query, name: str, filter_type: str, value) -> None:
        column = f'd."{name}"'
        comparisons = {"content": "=", "exact": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        if filter_type in comparisons:
            query.conditions.append(f"{column} {comparisons[filter_type]} ?")
            query.params.append(column_value(value))
        elif filter_type == "in":
            values = [column_value(item) for item in value]
            query.conditions.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "0")
            query.params += values
        elif filter_type == "range":
            first, last = value
            query.conditions.append(f"{column} BETWEEN ? AND ?")
            query.params += [column_value(first), column_value(last)]
        else:
            raise UnsupportedQuery(f"The FTS5 backend has no {filter_type} filter.")


class Fts5Engine(BaseEngine):
    backend = Fts5SearchBackend
    query = Fts5SearchQuery
