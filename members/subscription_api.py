"""REST endpoints for the owners' side of the subscription workflow; every
decision goes through members.workflows.

/lists/{list_id}/requests/ holds the subscriptions waiting for approval,
for the list's owners, its moderators and site admins, who approve, reject
(with a reason the requester is told) or defer them.
/lists/{list_id}/invitations/ lets owners and site admins invite an address.
"""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api.input import MAX_TEXT_LENGTH, RejectUnknownFields, validated_data
from api.permissions import ScopeAllowsMethod, can_manage_list, can_moderate
from lists.api import LIST_ID
from lists.models import MailingList
from members import workflows
from members.api import list_for_caller
from members.models import RequestStatus, Role, SubscriptionRequest
from members.services import AlreadySubscribed, BannedAddress


class SubscriptionRequestSerializer(serializers.ModelSerializer):
    list_id = serializers.CharField(source="mailing_list.list_id", read_only=True)
    decided_by = serializers.CharField(source="decided_by.get_username", read_only=True, allow_null=True, default=None)
    # A string, not an enum, in the schema: an enum would share its name
    # ("status") with the held messages' one.
    status = serializers.CharField(read_only=True, help_text="pending, approved or rejected.")

    class Meta:
        model = SubscriptionRequest
        fields = [
            "id",
            "list_id",
            "email",
            "display_name",
            "via",
            "requested_at",
            "status",
            "deferred_at",
            "decided_at",
            "decided_by",
            "decision_reason",
        ]
        read_only_fields = fields


class RejectRequestSerializer(RejectUnknownFields, serializers.Serializer):
    reason = serializers.CharField(
        max_length=MAX_TEXT_LENGTH, allow_blank=True, default="", help_text="Told to the requester."
    )


class RequestFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(RequestStatus.choices, default=RequestStatus.PENDING)


REQUEST_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The request's id.")
STATUS_FILTER = OpenApiParameter("status", str, enum=RequestStatus.values, description="Default: pending.")


@extend_schema_view(
    list=extend_schema(parameters=[LIST_ID, STATUS_FILTER]),
    retrieve=extend_schema(parameters=[LIST_ID, REQUEST_ID]),
    approve=extend_schema(parameters=[LIST_ID, REQUEST_ID]),
    reject=extend_schema(parameters=[LIST_ID, REQUEST_ID]),
    defer=extend_schema(parameters=[LIST_ID, REQUEST_ID]),
)
class SubscriptionRequestViewSet(viewsets.GenericViewSet):
    """/lists/{list_id}/requests/: subscriptions waiting for the list's owners and moderators."""

    serializer_class = SubscriptionRequestSerializer
    permission_classes = [IsAuthenticated, ScopeAllowsMethod]
    # Ids past a bigint match no row; refusing them in the URL keeps them from the database.
    lookup_value_regex = "[0-9]{1,18}"

    @cached_property
    def mailing_list(self) -> MailingList:
        refusal = _("Only owners and moderators of this list may see its subscription requests.")
        return list_for_caller(self.request, self.kwargs["list_id"], can_moderate, refusal)

    def get_queryset(self) -> QuerySet[SubscriptionRequest]:
        return SubscriptionRequest.objects.filter(mailing_list=self.mailing_list).select_related(
            "mailing_list__domain", "decided_by"
        )

    def get_object(self) -> SubscriptionRequest:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def list(self, request: Request, **kwargs: str) -> Response:
        """Requests, oldest first; pending ones (deferred or not) unless `status` asks for others."""
        wanted = validated_data(RequestFilterSerializer, request.query_params)["status"]
        page = self.paginate_queryset(self.get_queryset().filter(status=wanted).order_by("requested_at", "pk"))
        return self.get_paginated_response(SubscriptionRequestSerializer(page, many=True).data)

    def retrieve(self, request: Request, **kwargs: str) -> Response:
        return Response(SubscriptionRequestSerializer(self.get_object()).data)

    @extend_schema(request=None, responses=SubscriptionRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, **kwargs: str) -> Response:
        """Subscribe the requester, with the list's welcome. 409 when the request was decided
        already; 400 when the address was banned meanwhile (the request stays pending)."""
        pending = self.get_object()
        workflows.approve_request(pending, request.user, via="api")
        return Response(SubscriptionRequestSerializer(pending).data)

    @extend_schema(request=RejectRequestSerializer, responses=SubscriptionRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, **kwargs: str) -> Response:
        """Refuse the request; the requester is told, with the reason when one is given."""
        pending = self.get_object()
        reason = validated_data(RejectRequestSerializer, request.data)["reason"]
        workflows.reject_request(pending, request.user, reason, via="api")
        return Response(SubscriptionRequestSerializer(pending).data)

    @extend_schema(request=None, responses=SubscriptionRequestSerializer)
    @action(detail=True, methods=["post"])
    def defer(self, request: Request, **kwargs: str) -> Response:
        """Leave the request pending, marked as seen."""
        pending = workflows.defer_request(self.get_object(), request.user, via="api")
        return Response(SubscriptionRequestSerializer(pending).data)


class InvitationSerializer(RejectUnknownFields, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    display_name = serializers.CharField(max_length=255, allow_blank=True, default="")


class InvitationResultSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="invited")
    email = serializers.CharField()


@extend_schema_view(create=extend_schema(parameters=[LIST_ID]))
class InvitationViewSet(viewsets.GenericViewSet):
    """/lists/{list_id}/invitations/: owners invite an address to join."""

    serializer_class = InvitationSerializer
    permission_classes = [IsAuthenticated, ScopeAllowsMethod]

    @extend_schema(request=InvitationSerializer, responses={202: InvitationResultSerializer})
    def create(self, request: Request, **kwargs: str) -> Response:
        """Mail the address an invitation with a link to accept it, for the list's owners and site
        admins; accepting subscribes without asking the owners again. 409 for a member, 400 for a
        banned address (never saying which ban), 429 past the address's mail allowance, 503 when
        the mail cannot be sent (nothing is then kept)."""
        refusal = _("Only owners of this list may invite.")
        mlist = list_for_caller(request, kwargs["list_id"], can_manage_list, refusal)
        data = validated_data(InvitationSerializer, request.data)
        result = workflows.invite(mlist, data["email"], request.user, display_name=data["display_name"])
        if result.status == workflows.Status.ALREADY_MEMBER:
            raise AlreadySubscribed(result.email, mlist, Role.MEMBER)
        if result.status == workflows.Status.BANNED:
            raise BannedAddress(result.email, mlist)
        if result.status == workflows.Status.RATE_LIMITED:
            raise Throttled(detail=_("Too many mails to this address for now; try again in an hour."))
        body = {"status": result.status, "email": result.email}
        return Response(InvitationResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)
