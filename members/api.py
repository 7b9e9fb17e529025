"""REST endpoints for memberships and addresses; every write goes through members.services."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api.input import RejectUnknownFields, clean_lookup, validated_data
from api.permissions import (
    MembershipAccess,
    ScopeAllowsMethod,
    can_manage_list,
    can_read_roster,
    check_self_service_changes,
    is_site_admin,
    visible_addresses,
    visible_lists,
    visible_memberships,
)
from lists.api import LIST_ID, find_list
from lists.models import Action, MailingList
from members import services, workflows
from members.models import Address, DeliveryMode, DeliveryStatus, Membership, Role


class MembershipSerializer(serializers.ModelSerializer):
    list_id = serializers.CharField(source="mailing_list.list_id", read_only=True)
    fqdn_listname = serializers.CharField(source="mailing_list.fqdn_listname", read_only=True)
    email = serializers.CharField(source="address.email", read_only=True)
    display_name = serializers.CharField(source="address.display_name", read_only=True)

    class Meta:
        model = Membership
        fields = [
            "id",
            "list_id",
            "fqdn_listname",
            "email",
            "display_name",
            "role",
            "delivery_mode",
            "delivery_status",
            "moderation_action",
            "subscribed_at",
        ]


class MembershipCreateSerializer(RejectUnknownFields, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    display_name = serializers.CharField(max_length=255, allow_blank=True, default="")
    role = serializers.ChoiceField(Role.choices, default=Role.MEMBER)
    delivery_mode = serializers.ChoiceField(DeliveryMode.choices, required=False)
    # Mailman's REST API: a trusted caller vouches for what it already did.
    pre_verified = serializers.BooleanField(default=True, help_text="The caller verified the address.")
    pre_confirmed = serializers.BooleanField(default=True, help_text="The person asked to join.")
    pre_approved = serializers.BooleanField(default=True, help_text="An owner approved.")


class SubscriptionRequestSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="confirmation_sent, pending_approval, banned, already_pending, ...")
    email = serializers.CharField()
    token = serializers.CharField(help_text="The confirmation token mailed, for trusted callers (as Mailman).")


class MembershipUpdateSerializer(RejectUnknownFields, serializers.Serializer):
    role = serializers.ChoiceField(Role.choices, required=False)
    delivery_mode = serializers.ChoiceField(DeliveryMode.choices, required=False)
    delivery_status = serializers.ChoiceField(DeliveryStatus.choices, required=False)
    moderation_action = serializers.ChoiceField(
        Action.choices, allow_blank=True, required=False, help_text="Empty: the list's default action applies."
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError(_("Send at least one of: %s.") % ", ".join(self.fields))
        return attrs


class MembershipFilterSerializer(serializers.Serializer):
    role = serializers.ChoiceField(Role.choices, required=False)
    address = serializers.CharField(max_length=254, required=False, help_text="An email address, exactly.")


MEMBERSHIP_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The membership's id.")
MEMBERSHIP_FILTERS = [
    OpenApiParameter("role", str, enum=Role.values, description="Only memberships with this role."),
    OpenApiParameter("address", str, description="Only memberships of this email address."),
]


@extend_schema_view(
    retrieve=extend_schema(parameters=[MEMBERSHIP_ID]),
    partial_update=extend_schema(parameters=[MEMBERSHIP_ID]),
    destroy=extend_schema(parameters=[MEMBERSHIP_ID]),
)
class MembershipViewSet(viewsets.GenericViewSet):
    """/members/: the caller's own memberships, and the rosters of lists they own or moderate."""

    serializer_class = MembershipSerializer
    permission_classes = [IsAuthenticated, ScopeAllowsMethod, MembershipAccess]

    def get_queryset(self) -> QuerySet[Membership]:
        return visible_memberships(self.request.user)

    @extend_schema(parameters=MEMBERSHIP_FILTERS)
    def list(self, request: Request, **kwargs: str) -> Response:
        filters = validated_data(MembershipFilterSerializer, request.query_params)
        memberships = self.get_queryset()
        if "role" in filters:
            memberships = memberships.filter(role=filters["role"])
        if "address" in filters:
            memberships = memberships.filter(address__email=filters["address"].strip().lower())
        page = self.paginate_queryset(memberships)
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)

    def retrieve(self, request: Request, **kwargs: str) -> Response:
        return Response(MembershipSerializer(self.get_object()).data)

    @extend_schema(request=MembershipUpdateSerializer, responses=MembershipSerializer)
    def partial_update(self, request: Request, **kwargs: str) -> Response:
        """Owners change anything; members may change their own delivery mode and status."""
        membership = self.get_object()
        changes = validated_data(MembershipUpdateSerializer, request.data)
        if not can_manage_list(request.user, membership.mailing_list):
            check_self_service_changes(changes)
        return Response(MembershipSerializer(services.update_membership(membership, **changes)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, **kwargs: str) -> Response:
        """Owners remove anyone from their lists; members remove themselves."""
        services.remove_membership(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(parameters=[LIST_ID, *MEMBERSHIP_FILTERS]),
    retrieve=extend_schema(parameters=[LIST_ID, MEMBERSHIP_ID]),
    create=extend_schema(parameters=[LIST_ID]),
    partial_update=extend_schema(parameters=[LIST_ID, MEMBERSHIP_ID]),
    destroy=extend_schema(parameters=[LIST_ID, MEMBERSHIP_ID]),
)
class ListMembershipViewSet(MembershipViewSet):
    """/lists/{list_id}/members/: one list's roster, for its owners and moderators."""

    @cached_property
    def mailing_list(self) -> MailingList:
        return find_list(visible_lists(self.request.user), self.kwargs["list_id"])

    def get_queryset(self) -> QuerySet[Membership]:
        return super().get_queryset().filter(mailing_list=self.mailing_list)

    def list(self, request: Request, **kwargs: str) -> Response:
        """The roster, for the list's owners and moderators; members see theirs under /members/."""
        if not can_read_roster(request.user, self.mailing_list):
            raise PermissionDenied(_("Only owners and moderators of this list may read its roster."))
        return super().list(request)

    @extend_schema(
        request=MembershipCreateSerializer, responses={201: MembershipSerializer, 202: SubscriptionRequestSerializer}
    )
    def create(self, request: Request, **kwargs: str) -> Response:
        """Add an address to the list, for the list's owners and site admins: at once (201), or, for a
        member when any pre_* is false, through the list's subscription workflow (202)."""
        if not can_manage_list(request.user, self.mailing_list):
            raise PermissionDenied(_("Only owners of this list may add members."))
        data = validated_data(MembershipCreateSerializer, request.data)
        vouched = {name: data.pop(name) for name in ("pre_verified", "pre_confirmed", "pre_approved")}
        if data["role"] == Role.MEMBER and not all(vouched.values()):
            result = workflows.request_subscription(
                self.mailing_list, data["email"], display_name=data["display_name"], via="api", **vouched
            )
            body = {"status": result.status, "email": result.email, "token": result.token}
            return Response(SubscriptionRequestSerializer(body).data, status=status.HTTP_202_ACCEPTED)
        membership = services.subscribe(self.mailing_list, data.pop("email"), **data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class AddressSerializer(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["email", "original_email", "display_name", "verified", "verified_at", "user", "created_at"]


class AddressCreateSerializer(RejectUnknownFields, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    display_name = serializers.CharField(max_length=255, allow_blank=True, default="")


class AddressViewSet(viewsets.GenericViewSet):
    """Email addresses: your own (all of them, for site admins)."""

    serializer_class = AddressSerializer
    permission_classes = [IsAuthenticated, ScopeAllowsMethod]
    lookup_field = "email"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Address]:
        return visible_addresses(self.request.user)

    def get_object(self) -> Address:
        return get_object_or_404(self.get_queryset(), email=clean_lookup(self.kwargs["email"]).strip().lower())

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AddressSerializer(page, many=True).data)

    def retrieve(self, request: Request, email: str) -> Response:
        return Response(AddressSerializer(self.get_object()).data)

    @extend_schema(request=AddressCreateSerializer, responses={201: AddressSerializer})
    def create(self, request: Request) -> Response:
        """Link an address to your account, unverified: it grants no role until it is verified."""
        data = validated_data(AddressCreateSerializer, request.data)
        address = services.link_address(request.user, data["email"], data["display_name"])
        return Response(AddressSerializer(address).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, email: str) -> Response:
        """Site admins delete the address and its memberships, as in the admin; a user takes it off
        their account and its memberships stay, as removing an email in account settings does."""
        address = self.get_object()
        if is_site_admin(request.user):
            services.delete_address(address)
        else:
            services.unlink_address(address)
        return Response(status=status.HTTP_204_NO_CONTENT)
