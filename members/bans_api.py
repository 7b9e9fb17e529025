"""REST endpoints for bans; every change goes through members.services.

/lists/{list_id}/bans/ holds one list's bans, for its owners and site
admins; /bans/ holds the site-wide ones, for site admins. A ban's pattern
is shown to nobody else: a banned address learns only that it may not
subscribe, and a moderator does not see the bans at all.
"""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api.input import RejectUnknownFields, validated_data
from api.permissions import IsSiteAdmin, ScopeAllowsMethod, can_manage_list
from lists.api import LIST_ID
from lists.models import MailingList
from members import services
from members.api import list_for_caller
from members.models import Ban


class BanSerializer(serializers.ModelSerializer):
    list_id = serializers.CharField(
        source="mailing_list.list_id", read_only=True, allow_null=True, default=None, help_text="null: site-wide."
    )
    is_pattern = serializers.BooleanField(read_only=True)

    class Meta:
        model = Ban
        fields = ["id", "email", "is_pattern", "list_id", "created_at"]
        read_only_fields = fields


class BanCreateSerializer(RejectUnknownFields, serializers.Serializer):
    email = serializers.CharField(
        max_length=254, help_text="An address, or a regular expression starting with ^ (`^.*@spam\\.example$`)."
    )


BAN_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The ban's id.")


class SiteBanViewSet(viewsets.GenericViewSet):
    """/bans/: the site-wide bans, for site admins."""

    serializer_class = BanSerializer
    permission_classes = [IsAuthenticated, ScopeAllowsMethod, IsSiteAdmin]
    # Ids past a bigint match no row; refusing them in the URL keeps them from the database.
    lookup_value_regex = "[0-9]{1,18}"

    @property
    def banned_from(self) -> MailingList | None:
        """The list the bans here apply to; None for the whole site."""
        return None

    def get_queryset(self) -> QuerySet[Ban]:
        return Ban.objects.filter(mailing_list=self.banned_from).select_related("mailing_list__domain")

    def get_object(self) -> Ban:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def list(self, request: Request, **kwargs: str) -> Response:
        """The bans, in the order of their text."""
        page = self.paginate_queryset(self.get_queryset().order_by("email", "pk"))
        return self.get_paginated_response(BanSerializer(page, many=True).data)

    def retrieve(self, request: Request, **kwargs: str) -> Response:
        """One ban."""
        return Response(BanSerializer(self.get_object()).data)

    @extend_schema(request=BanCreateSerializer, responses={201: BanSerializer, 200: BanSerializer})
    def create(self, request: Request, **kwargs: str) -> Response:
        """Ban an address or a ^pattern: 201, or 200 with the ban that was there already."""
        pattern = services.ban_pattern(validated_data(BanCreateSerializer, request.data)["email"])
        existed = self.get_queryset().filter(email=pattern).exists()
        ban = services.ban(self.banned_from, pattern)
        return Response(BanSerializer(ban).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, **kwargs: str) -> Response:
        """Lift the ban."""
        ban = self.get_object()
        services.unban(self.banned_from, ban.email)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(parameters=[LIST_ID]),
    retrieve=extend_schema(parameters=[LIST_ID, BAN_ID]),
    create=extend_schema(parameters=[LIST_ID]),
    destroy=extend_schema(parameters=[LIST_ID, BAN_ID]),
)
class ListBanViewSet(SiteBanViewSet):
    """/lists/{list_id}/bans/: one list's own bans, for its owners and site admins."""

    permission_classes = [IsAuthenticated, ScopeAllowsMethod]

    @cached_property
    def banned_from(self) -> MailingList:
        refusal = _("Only owners of this list may see or change its bans.")
        return list_for_caller(self.request, self.kwargs["list_id"], can_manage_list, refusal)
