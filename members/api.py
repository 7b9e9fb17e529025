"""REST endpoints for memberships and addresses; every write goes through members.services."""

from collections.abc import Callable

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api.input import RejectUnknownFields, clean_lookup, validated_data
from api.permissions import (
    Caller,
    MembershipAccess,
    ScopeAllowsMethod,
    can_manage_list,
    can_manage_membership,
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
from members.self_service import own_change_errors
from members.services import BulkResult


def list_for_caller(
    request: Request, list_id: str, allowed: Callable[[Caller, MailingList], bool], refusal: str
) -> MailingList:
    """The list `list_id` names: NotFound when the caller may not know of it,
    PermissionDenied with `refusal` unless `allowed(caller, list)`."""
    mlist = find_list(visible_lists(request.user), list_id)
    if not allowed(request.user, mlist):
        raise PermissionDenied(refusal)
    return mlist


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


class WorkflowResultSerializer(serializers.Serializer):
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


PREFERENCES = [
    "delivery_mode",
    "delivery_status",
    "receive_own_postings",
    "receive_list_copy",
    "acknowledge_posts",
    "hide_address",
]


class PreferencesSerializer(serializers.ModelSerializer):
    class Meta:
        model = Membership
        fields = PREFERENCES
        read_only_fields = PREFERENCES


class PreferencesUpdateSerializer(RejectUnknownFields, serializers.Serializer):
    delivery_mode = serializers.ChoiceField(DeliveryMode.choices, required=False)
    delivery_status = serializers.ChoiceField(
        DeliveryStatus.choices, required=False, help_text="Members may choose only enabled or by_user."
    )
    receive_own_postings = serializers.BooleanField(required=False, help_text="Get a copy of one's own posts.")
    receive_list_copy = serializers.BooleanField(
        required=False, help_text="Get the list's copy of a post that also names one directly."
    )
    acknowledge_posts = serializers.BooleanField(required=False, help_text="Be told when a post went to the list.")
    hide_address = serializers.BooleanField(required=False, help_text="Keep one's address off the public roster.")

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError(_("Send at least one of: %s.") % ", ".join(self.fields))
        return attrs


# One request's worth; a larger roster goes in several requests (or
# `manage.py add_members`, which shows its progress).
MAX_MASS_ENTRIES = 5_000


def no_comment(entry: str) -> None:
    # Bulk input treats `#...` as a comment: refused here, so that every
    # entry is accounted for in the answer.
    if entry.lstrip().startswith("#"):
        raise serializers.ValidationError(_("An entry may not start with #."))


class MassChangeSerializer(RejectUnknownFields, serializers.Serializer):
    emails = serializers.ListField(
        child=serializers.CharField(max_length=512, validators=[no_comment]),
        allow_empty=False,
        max_length=MAX_MASS_ENTRIES,
        help_text="One address an entry: `a@b`, `a@b Name` or `Name <a@b>`.",
    )
    skip_invalid = serializers.BooleanField(
        default=False,
        help_text="Go ahead with the valid entries and report the others; otherwise one invalid entry stops all.",
    )


class MassSubscribeSerializer(MassChangeSerializer):
    send_welcome = serializers.BooleanField(default=True, help_text="Welcome each new member, if the list does.")


class MassUnsubscribeSerializer(MassChangeSerializer):
    send_goodbye = serializers.BooleanField(default=True, help_text="Say goodbye to each, if the list does.")


class InvalidEntrySerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Its position in `emails`, from 0.")
    text = serializers.CharField()
    reason = serializers.CharField()


class MassSubscribeResultSerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.CharField())
    unchanged = serializers.ListField(child=serializers.CharField(), help_text="Members already, or given twice.")
    banned = serializers.ListField(child=serializers.CharField())
    invalid = InvalidEntrySerializer(many=True, help_text="Skipped (skip_invalid).")


class MassUnsubscribeResultSerializer(serializers.Serializer):
    removed = serializers.ListField(child=serializers.CharField())
    unchanged = serializers.ListField(child=serializers.CharField(), help_text="Not members.")
    invalid = InvalidEntrySerializer(many=True, help_text="Skipped (skip_invalid).")


def bulk_report(result: BulkResult, skip_invalid: bool) -> dict:
    """`result` as the API reports it; ValidationError (nothing was done) for
    invalid entries unless they were to be skipped."""
    invalid = [{"index": number - 1, "text": text, "reason": reason} for number, text, reason in result.invalid]
    if invalid and not skip_invalid:
        raise serializers.ValidationError({"emails": {entry["index"]: [entry["reason"]] for entry in invalid}})
    return {
        "added": result.added,
        "removed": result.removed,
        "unchanged": result.unchanged,
        "banned": result.banned,
        "invalid": invalid,
    }


MEMBERSHIP_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The membership's id.")
MEMBERSHIP_FILTERS = [
    OpenApiParameter("role", str, enum=Role.values, description="Only memberships with this role."),
    OpenApiParameter("address", str, description="Only memberships of this email address."),
]


def check_own_changes(request: Request, membership: Membership, changes: dict) -> None:
    """Owners and site admins change anything; a member only what the
    "my subscriptions" page lets them (members.self_service): 403 for a
    field reserved to owners, 400 for a value they may not choose."""
    if can_manage_list(request.user, membership.mailing_list):
        return
    check_self_service_changes(changes)
    if errors := own_change_errors(membership, changes):
        raise services.InvalidMembershipChange(errors)


@extend_schema_view(
    retrieve=extend_schema(parameters=[MEMBERSHIP_ID]),
    partial_update=extend_schema(parameters=[MEMBERSHIP_ID]),
    destroy=extend_schema(parameters=[MEMBERSHIP_ID]),
    preferences=extend_schema(parameters=[MEMBERSHIP_ID]),
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
        check_own_changes(request, membership, changes)
        return Response(MembershipSerializer(services.update_membership(membership, **changes)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, **kwargs: str) -> Response:
        """Owners remove anyone from their lists; members remove themselves."""
        services.remove_membership(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses=PreferencesSerializer)
    @extend_schema(methods=["PATCH"], request=PreferencesUpdateSerializer, responses=PreferencesSerializer)
    @action(detail=True, methods=["get", "patch"])
    def preferences(self, request: Request, **kwargs: str) -> Response:
        """The member's delivery and preferences (Mailman's), for the member themself, the list's
        owners and site admins; members may set delivery_status only to enabled or by_user."""
        membership = self.get_object()
        if not can_manage_membership(request.user, membership):
            raise PermissionDenied(_("Only the member and the list's owners may see these preferences."))
        if request.method == "PATCH":
            changes = validated_data(PreferencesUpdateSerializer, request.data)
            check_own_changes(request, membership, changes)
            membership = services.update_membership(membership, **changes)
        return Response(PreferencesSerializer(membership).data)


@extend_schema_view(
    list=extend_schema(parameters=[LIST_ID, *MEMBERSHIP_FILTERS]),
    retrieve=extend_schema(parameters=[LIST_ID, MEMBERSHIP_ID]),
    create=extend_schema(parameters=[LIST_ID]),
    partial_update=extend_schema(parameters=[LIST_ID, MEMBERSHIP_ID]),
    destroy=extend_schema(parameters=[LIST_ID, MEMBERSHIP_ID]),
    preferences=extend_schema(parameters=[LIST_ID, MEMBERSHIP_ID]),
    mass_subscribe=extend_schema(parameters=[LIST_ID]),
    mass_unsubscribe=extend_schema(parameters=[LIST_ID]),
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
        request=MembershipCreateSerializer, responses={201: MembershipSerializer, 202: WorkflowResultSerializer}
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
            return Response(WorkflowResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)
        membership = services.subscribe(self.mailing_list, data.pop("email"), **data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MassSubscribeSerializer, responses=MassSubscribeResultSerializer)
    @action(detail=False, methods=["post"], url_path="mass-subscribe")
    def mass_subscribe(self, request: Request, **kwargs: str) -> Response:
        """Subscribe many addresses at once, for the list's owners and site admins; banned addresses
        are left out and reported (as banned, never by which ban)."""
        mlist = self.managed_list()
        data = validated_data(MassSubscribeSerializer, request.data)
        result = workflows.mass_subscribe(
            mlist, data["emails"], send_welcome=data["send_welcome"], skip_invalid=data["skip_invalid"]
        )
        return Response(MassSubscribeResultSerializer(bulk_report(result, data["skip_invalid"])).data)

    @extend_schema(request=MassUnsubscribeSerializer, responses=MassUnsubscribeResultSerializer)
    @action(detail=False, methods=["post"], url_path="mass-unsubscribe")
    def mass_unsubscribe(self, request: Request, **kwargs: str) -> Response:
        """Unsubscribe many members at once, for the list's owners and site admins."""
        mlist = self.managed_list()
        data = validated_data(MassUnsubscribeSerializer, request.data)
        result = workflows.mass_unsubscribe(
            mlist, data["emails"], send_goodbye=data["send_goodbye"], skip_invalid=data["skip_invalid"]
        )
        return Response(MassUnsubscribeResultSerializer(bulk_report(result, data["skip_invalid"])).data)

    def managed_list(self) -> MailingList:
        if not can_manage_list(self.request.user, self.mailing_list):
            raise PermissionDenied(_("Only owners of this list may do this."))
        return self.mailing_list


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
