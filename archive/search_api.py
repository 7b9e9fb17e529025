"""GET /api/v3/search: full-text search of the archives the caller may read
(anonymous callers: the public ones), best hits first."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.input import MAX_LOOKUP_LENGTH
from api.permissions import ScopeAllowsMethod, visible_lists
from archive.search import MAX_PAGE, MAX_QUERY_LENGTH, PAGE_SIZE, SearchError, UnreadableArchive, search
from lists.api import find_list


class SearchParameters(serializers.Serializer):
    q = serializers.CharField(max_length=MAX_QUERY_LENGTH)
    list = serializers.CharField(required=False, max_length=MAX_LOOKUP_LENGTH)
    after = serializers.DateField(required=False)
    before = serializers.DateField(required=False)
    page = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_PAGE)

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # "from" is a Python keyword, so it cannot be declared above.
        fields["from"] = serializers.CharField(required=False, max_length=MAX_LOOKUP_LENGTH)
        return fields


class SearchHitSerializer(serializers.Serializer):
    message_id_hash = serializers.CharField(help_text="The message's permalink id (Mailman's X-Message-ID-Hash).")
    list_id = serializers.CharField()
    list_name = serializers.CharField(help_text="The list's posting address.")
    thread_id = serializers.IntegerField()
    subject = serializers.CharField()
    sender_name = serializers.CharField()
    sender = serializers.CharField(help_text="The sender's address; obfuscated for anonymous callers.")
    date = serializers.DateTimeField()
    snippet = serializers.CharField(help_text="HTML: escaped text around the match, the query's words in <mark>.")
    url = serializers.CharField(help_text="The message's page.")
    score = serializers.FloatField()


class SearchPageSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    page = serializers.IntegerField()
    has_next = serializers.BooleanField(help_text="Whether page+1 has hits; hits are not counted.")


PARAMETERS = [
    OpenApiParameter(
        "q",
        str,
        required=True,
        description='Words, "phrases", from:someone, subject:words, after:YYYY-MM-DD, before:YYYY-MM-DD.',
    ),
    OpenApiParameter("list", str, description="Only this list (its list id or posting address)."),
    OpenApiParameter("from", str, description="Only messages from this sender (name or address)."),
    OpenApiParameter("after", str, description="Only messages dated on or after this day (YYYY-MM-DD, UTC)."),
    OpenApiParameter("before", str, description="Only messages dated before this day (YYYY-MM-DD, UTC)."),
    OpenApiParameter("page", int, description=f"Page of {PAGE_SIZE} hits, from 1 to {MAX_PAGE}."),
]


class ArchiveSearchView(APIView):
    # Anonymous callers search the public archives.
    permission_classes = [ScopeAllowsMethod]

    @extend_schema(parameters=PARAMETERS, responses=SearchPageSerializer, summary="Search the archives")
    def get(self, request: Request) -> Response:
        serializer = SearchParameters(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        params = serializer.validated_data
        mlist = find_list(visible_lists(request.user), params["list"]) if params.get("list") else None
        try:
            page = search(
                request.user,
                params["q"],
                mlist=mlist,
                sender=params.get("from"),
                after=params.get("after"),
                before=params.get("before"),
                page=params["page"],
            )
        except UnreadableArchive:
            raise PermissionDenied(_("Only members of this list may search its archive.")) from None
        except SearchError as exc:
            raise ValidationError(str(exc)) from None
        hits = [{**vars(hit), "url": request.build_absolute_uri(hit.url)} for hit in page.hits]
        return Response(SearchPageSerializer({"results": hits, "page": page.page, "has_next": page.has_next}).data)
