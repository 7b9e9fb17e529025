"""GET and PUT /api/v3/lists/{list_id}/filters/: a list's header and body
filters, for its owners and site admins. PUT replaces the whole ordered
list through lists.services.set_content_filters, all or nothing."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.input import RejectUnknownFields, validated_data
from api.permissions import ScopeAllowsMethod, can_manage_list
from lists import services
from lists.api import LIST_ID
from lists.models import FILTER_PATTERN_MAX_LENGTH, FilterPart, MailingList
from members.api import list_for_caller


class ContentFilterSerializer(RejectUnknownFields, serializers.Serializer):
    part = serializers.ChoiceField(choices=FilterPart.choices, default=FilterPart.HEADER)
    header = serializers.CharField(
        max_length=255, allow_blank=True, default="", help_text="The header's name, for a header filter."
    )
    pattern = serializers.CharField(
        max_length=FILTER_PATTERN_MAX_LENGTH,
        trim_whitespace=False,
        help_text="A regular expression in RE2's syntax, matched case-insensitively; body filters are multi-line.",
    )
    action = serializers.ChoiceField(choices=services.FILTER_ACTIONS)


class ContentFiltersSerializer(RejectUnknownFields, serializers.Serializer):
    filters = ContentFilterSerializer(
        many=True, max_length=services.MAX_CONTENT_FILTERS, help_text="In order: the first that matches decides."
    )


class ContentFiltersView(APIView):
    permission_classes = [IsAuthenticated, ScopeAllowsMethod]

    def managed_list(self, request: Request, list_id: str) -> MailingList:
        refusal = _("Only owners of this list may see or change its filters.")
        return list_for_caller(request, list_id, can_manage_list, refusal)

    @extend_schema(parameters=[LIST_ID], responses=ContentFiltersSerializer)
    def get(self, request: Request, list_id: str) -> Response:
        """The list's header and body filters, in the order they run."""
        mlist = self.managed_list(request, list_id)
        rows = mlist.content_filters.order_by("position", "id")
        return Response(ContentFiltersSerializer({"filters": rows}).data)

    @extend_schema(parameters=[LIST_ID], request=ContentFiltersSerializer, responses=ContentFiltersSerializer)
    def put(self, request: Request, list_id: str) -> Response:
        """Replace the list's filters with these, in this order; on any error none changes."""
        mlist = self.managed_list(request, list_id)
        data = validated_data(ContentFiltersSerializer, request.data)
        rows = services.set_content_filters(mlist, [dict(spec) for spec in data["filters"]])
        return Response(ContentFiltersSerializer({"filters": rows}).data)
