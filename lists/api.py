"""REST endpoints for domains and lists; every write goes through lists.services."""

import operator
from functools import reduce

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Length
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api.input import MAX_TEXT_LENGTH, RejectUnknownFields, clean_lookup, validated_data
from api.permissions import IsSiteAdmin, IsSiteAdminOrReadOnly, ManagesList, ScopeAllowsMethod, visible_lists
from lists import services
from lists.models import Domain, MailingList

LIST_ID = OpenApiParameter(
    "list_id",
    str,
    OpenApiParameter.PATH,
    description="The list's RFC 2919 id (`ant.example.com`) or its posting address (`ant@example.com`).",
)


def find_list(lists: QuerySet[MailingList], ref: str) -> MailingList:
    """The list among `lists` that `ref` names, by list id or posting address; NotFound otherwise.

    A list id joins name and domain with a dot and either may hold dots
    (RFC 2919 section 2), so every split is tried; should two lists share an
    id, the one with the shorter name wins. The `name@domain` form is exact.
    """
    ref = clean_lookup(ref).lower()
    if "@" in ref:
        name, _at, host = ref.rpartition("@")
        splits = [(name, host)]
    else:
        splits = [(ref[:i], ref[i + 1 :]) for i, char in enumerate(ref) if char == "."]
    mlist = None
    if splits:
        match = reduce(operator.or_, (Q(list_name=name, domain__mail_host=host) for name, host in splits))
        mlist = lists.filter(match).order_by(Length("list_name")).first()
    if mlist is None:
        raise NotFound(_("No such list: %(list)s") % {"list": ref})
    return mlist


class DomainSerializer(serializers.ModelSerializer):
    class Meta:
        model = Domain
        fields = ["mail_host", "web_host", "description"]


class DomainCreateSerializer(RejectUnknownFields, serializers.Serializer):
    mail_host = serializers.CharField(max_length=253)
    web_host = serializers.CharField(max_length=253, allow_blank=True, default="")
    description = serializers.CharField(max_length=MAX_TEXT_LENGTH, allow_blank=True, default="")


class DomainUpdateSerializer(RejectUnknownFields, serializers.Serializer):
    web_host = serializers.CharField(max_length=253, allow_blank=True, required=False)
    description = serializers.CharField(max_length=MAX_TEXT_LENGTH, allow_blank=True, required=False)


class DomainViewSet(viewsets.GenericViewSet):
    """Mail domains: anyone signed in reads them, site admins change them."""

    queryset = Domain.objects.all()
    serializer_class = DomainSerializer
    permission_classes = [IsAuthenticated, ScopeAllowsMethod, IsSiteAdminOrReadOnly]
    lookup_field = "mail_host"
    lookup_value_regex = "[^/]+"

    def get_object(self) -> Domain:
        return get_object_or_404(self.get_queryset(), mail_host=clean_lookup(self.kwargs["mail_host"]).lower())

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DomainSerializer(page, many=True).data)

    def retrieve(self, request: Request, mail_host: str) -> Response:
        return Response(DomainSerializer(self.get_object()).data)

    @extend_schema(request=DomainCreateSerializer, responses={201: DomainSerializer})
    def create(self, request: Request) -> Response:
        domain = services.create_domain(**validated_data(DomainCreateSerializer, request.data))
        return Response(DomainSerializer(domain).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DomainUpdateSerializer, responses=DomainSerializer)
    def partial_update(self, request: Request, mail_host: str) -> Response:
        domain = services.update_domain(self.get_object(), **validated_data(DomainUpdateSerializer, request.data))
        return Response(DomainSerializer(domain).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, mail_host: str) -> Response:
        services.delete_domain(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ListSerializer(serializers.ModelSerializer):
    """What anyone who may see a list sees of it; settings are under /config."""

    mail_host = serializers.CharField(source="domain.mail_host", read_only=True)

    class Meta:
        model = MailingList
        fields = ["list_id", "fqdn_listname", "list_name", "mail_host", "display_name", "description"]


class ListConfigSerializer(RejectUnknownFields, serializers.ModelSerializer):
    class Meta:
        model = MailingList
        fields = services.configurable_fields()
        extra_kwargs = {
            "moderator_password": {"write_only": True},
            **{
                field.name: {"max_length": MAX_TEXT_LENGTH}
                for field in MailingList._meta.concrete_fields
                if isinstance(field, TextField)
            },
        }


class ListCreateSerializer(RejectUnknownFields, serializers.Serializer):
    fqdn_listname = serializers.CharField(max_length=320, help_text="The posting address, `name@domain`.")
    owners = serializers.ListField(child=serializers.EmailField(max_length=254), max_length=100, default=list)
    settings = ListConfigSerializer(required=False, help_text="Any settings of /config, applied at creation.")


@extend_schema_view(
    retrieve=extend_schema(parameters=[LIST_ID]),
    destroy=extend_schema(parameters=[LIST_ID], responses={204: None}),
)
class ListViewSet(viewsets.GenericViewSet):
    """Mailing lists. The index is public (advertised lists only, to anonymous callers)."""

    serializer_class = ListSerializer
    lookup_url_kwarg = "list_id"
    lookup_value_regex = "[^/]+"

    def get_permissions(self) -> list[BasePermission]:
        if self.action == "list":
            return [AllowAny()]
        if self.action == "create":
            return [IsAuthenticated(), ScopeAllowsMethod(), IsSiteAdmin()]
        if self.action == "retrieve":
            return [IsAuthenticated(), ScopeAllowsMethod()]
        return [IsAuthenticated(), ScopeAllowsMethod(), ManagesList()]

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return ListConfigSerializer if self.action in ("config", "configure") else ListSerializer

    def get_queryset(self) -> QuerySet[MailingList]:
        return visible_lists(self.request.user)

    def get_object(self) -> MailingList:
        mlist = find_list(self.get_queryset(), self.kwargs["list_id"])
        self.check_object_permissions(self.request, mlist)
        return mlist

    def list(self, request: Request) -> Response:
        """Advertised lists; signed-in callers also see the lists they hold a role on, site admins all."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ListSerializer(page, many=True).data)

    @extend_schema(request=ListCreateSerializer, responses={201: ListSerializer})
    def create(self, request: Request) -> Response:
        data = validated_data(ListCreateSerializer, request.data)
        mlist = services.create_list(data["fqdn_listname"], owners=data["owners"], **data.get("settings", {}))
        return Response(ListSerializer(mlist).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, list_id: str) -> Response:
        return Response(ListSerializer(self.get_object()).data)

    def destroy(self, request: Request, list_id: str) -> Response:
        services.delete_list(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[LIST_ID])
    @action(detail=True, methods=["get"])
    def config(self, request: Request, list_id: str) -> Response:
        """Every setting of the list; for its owners and site admins."""
        return Response(ListConfigSerializer(self.get_object()).data)

    @extend_schema(parameters=[LIST_ID])
    @config.mapping.patch
    def configure(self, request: Request, list_id: str) -> Response:
        """Change the settings given, all or none; for the list's owners and site admins."""
        mlist = self.get_object()
        settings = validated_data(ListConfigSerializer, request.data, partial=True)
        return Response(ListConfigSerializer(services.configure_list(mlist, **settings)).data)
