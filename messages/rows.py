"""Model instances from hand-written SQL, for the few statements of the
mail path that the ORM cannot write as one round trip (an UPDATE that
returns the row it claimed together with its related rows) or writes at a
cost that counts there (bulk_insert).

A `Columns` names one model's columns under a table alias and turns its
slice of a result row into an instance, with the same conversions the ORM
applies (JSON text decoded, and so on), as `select_related` would.
"""

from collections.abc import Sequence
from functools import cache
from typing import Generic, TypeVar

from django.db import connection
from django.db.models import Model

from messages import prepared

M = TypeVar("M", bound=Model)


class Columns(Generic[M]):
    """All concrete columns of `model`, as `alias`."""

    def __init__(self, model: type[M], alias: str):
        self.model = model
        self.alias = alias
        self.fields = model._meta.concrete_fields
        self.attnames = [field.attname for field in self.fields]
        self.pk_index = self.attnames.index(model._meta.pk.attname)
        self._converters: list | None = None

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def sql(self) -> str:
        """`alias."column", ...` for a SELECT or RETURNING list."""
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)

    @property
    def names(self) -> str:
        """`"column", ...` without the alias (a RETURNING list)."""
        quote = connection.ops.quote_name
        return ", ".join(quote(field.column) for field in self.fields)

    def converters(self) -> list:
        """(index, converters, column) of each column whose value the ORM converts."""
        if self._converters is None:
            self._converters = []
            for index, field in enumerate(self.fields):
                col = field.get_col(self.alias)
                converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if converters:
                    self._converters.append((index, converters, col))
        return self._converters

    def load(self, row: Sequence, start: int = 0) -> M | None:
        """The instance in row[start:start + len(self)]; None when its
        primary key is NULL (an outer join found nothing)."""
        values = list(row[start : start + len(self)])
        for index, converters, col in self.converters():
            for convert in converters:
                values[index] = convert(values[index], col, connection)
        if values[self.pk_index] is None:
            return None
        return self.model.from_db(connection.alias, self.attnames, values)


def client_side_binding() -> bool:
    """Whether this connection merges parameters into the SQL text (Django's
    default with psycopg 3), which lets one round trip carry several
    statements that PostgreSQL runs in one transaction."""
    if connection.vendor != "postgresql":
        return False
    return connection.settings_dict.get("OPTIONS", {}).get("server_side_binding") is not True


def insert_fields(model: type[Model]) -> list:
    """The fields an INSERT of `model` writes: all concrete ones but the primary key."""
    return [field for field in model._meta.concrete_fields if not field.primary_key]


def insert_params(instance: Model, fields: Sequence) -> list:
    """The values of `fields` of the unsaved `instance` as an INSERT writes
    them (auto_now_add and the like filled in), as Django's save() would."""
    return [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]


def mark_saved(instance: Model, pk: int) -> None:
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


def bulk_insert(instances: Sequence[M]) -> None:
    """Insert the unsaved `instances` (of one model, no primary key set) as
    `bulk_create()` does, setting their primary keys.

    On PostgreSQL in one prepared statement, whatever their number, each
    column an array sent in binary: bulk_create's statement carries the
    values merged into its text, which psycopg and PostgreSQL then parse
    and PostgreSQL plans afresh, and for the archive's messages that cost
    more than storing them (benchmarks/README.md). Elsewhere bulk_create().
    """
    if not instances:
        return
    model = type(instances[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(instances)
        return
    fields = insert_fields(model)
    rows = []
    for instance in instances:
        instance._prepare_related_fields_for_save(operation_name="bulk_insert")
        rows.append(insert_params(instance, fields))
    with prepared.cursor() as cursor:
        cursor.execute(unnest_insert_sql(model), [list(column) for column in zip(*rows, strict=True)])
        for instance, (pk,) in zip(instances, cursor.fetchall(), strict=True):
            mark_saved(instance, pk)


@cache
def unnest_insert_sql(model: type[Model]) -> str:
    """INSERT of `model`'s rows from one array a column (insert_fields()
    order), returning their ids in the arrays' order, as Django's own
    bulk_create on PostgreSQL does."""
    quote = connection.ops.quote_name
    fields = insert_fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    # An array's type is its column's without a length: varchar[], not varchar(50)[].
    arrays = ", ".join(f"%b::{field.db_type(connection).split('(')[0]}[]" for field in fields)
    table = quote(model._meta.db_table)
    return f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) RETURNING {quote(model._meta.pk.column)}"  # noqa: S608
