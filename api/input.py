"""Defences against hostile input that every endpoint shares.

Whatever a client sends, the answer is a 400, never a 500: bodies that no
database can store, offsets past any integer column, fields we don't have.
"""

import json
from collections.abc import Mapping
from typing import IO, Any

from django.utils.translation import gettext as _
from rest_framework import parsers, serializers
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

# Long enough for any real text setting, short enough to refuse a flood.
MAX_TEXT_LENGTH = 100_000
# Lookups and filters longer than this match nothing we could have stored.
MAX_LOOKUP_LENGTH = 320


class JSONParser(parsers.JSONParser):
    """DRF's parser, also refusing unpaired UTF-16 surrogates (`"\\ud800"`):
    valid JSON escapes, but no UTF-8 database column can store them."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        try:
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ParseError(_("JSON parse error - unpaired surrogate in a string.")) from None
        return data


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 500
    # A larger OFFSET overflows the database's integer (a 500); no roster is that long.
    max_offset = 2**31 - 1

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), self.max_offset)


class RejectUnknownFields:
    """Serializer mixin: a body field the serializer does not know is a 400,
    not silently ignored (a misspelt setting would otherwise do nothing)."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {str(name): [_("Unknown or read-only field.")] for name in data if name not in writable}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **unknown}) from None
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


def clean_lookup(value: str) -> str:
    """A value from the URL path, fit to compare with stored text; NotFound otherwise.

    PostgreSQL refuses NUL in a query parameter outright, so such a value
    must not reach the database.
    """
    if "\x00" in value or len(value) > MAX_LOOKUP_LENGTH:
        raise NotFound()
    return value


def validated_data(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict:
    """`data` checked by `serializer_class`; ValidationError (a 400) otherwise."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
