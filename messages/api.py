"""REST endpoints for the hold queue; every decision goes through messages.moderation.

/lists/{list_id}/held/ lists a list's held posts for its owners, its
moderators and site admins; a held post's detail is a safe preview (decoded
headers and plain text, never its HTML rendered); approve, reject, discard
and defer are actions on it. /lists/{list_id}/moderation-log/ is what the
list's moderators did, for the same people.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api.input import MAX_TEXT_LENGTH, RejectUnknownFields, validated_data
from api.permissions import ScopeAllowsMethod, can_moderate, visible_lists
from lists.api import LIST_ID, find_list
from lists.models import MailingList
from messages import moderation
from messages.held_preview import preview
from messages.models import HeldMessage, HeldStatus, ModerationRecord
from messages.moderation_log import Via, log_of


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class Unavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"


class HeldMessageSerializer(serializers.ModelSerializer):
    list_id = serializers.CharField(source="mailing_list.list_id", read_only=True)
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True)
    decided_by = serializers.CharField(source="decided_by.get_username", read_only=True, allow_null=True, default=None)
    size = serializers.IntegerField(source="message_size", read_only=True, help_text="The post's size in bytes.")

    class Meta:
        model = HeldMessage
        fields = [
            "id",
            "list_id",
            "sender",
            "subject",
            "reasons",
            "size",
            "held_at",
            "status",
            "decided_at",
            "decided_by",
            "decision_reason",
        ]
        read_only_fields = fields


class PartSerializer(serializers.Serializer):
    content_type = serializers.CharField()
    filename = serializers.CharField()
    size = serializers.IntegerField()


class PreviewSerializer(serializers.Serializer):
    """Text to show as text, never as HTML: html_source is the source of the
    first text/html part when the post has no text/plain one."""

    size = serializers.IntegerField()
    headers = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    text = serializers.CharField()
    text_truncated = serializers.BooleanField()
    html_source = serializers.CharField()
    parts = PartSerializer(many=True)


class HeldMessagePreviewSerializer(HeldMessageSerializer):
    preview = serializers.SerializerMethodField()

    class Meta(HeldMessageSerializer.Meta):
        fields = [*HeldMessageSerializer.Meta.fields, "preview"]

    @extend_schema_field(PreviewSerializer)
    def get_preview(self, held: HeldMessage) -> dict:
        return preview(held)


class ModerationRecordSerializer(serializers.ModelSerializer):
    held_message = serializers.IntegerField(source="held_message_id", allow_null=True, read_only=True)
    actor = serializers.CharField(source="actor.get_username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ModerationRecord
        fields = [
            "id",
            "at",
            "kind",
            "action",
            "held_message",
            "sender",
            "subject",
            "reason",
            "actor",
            "actor_email",
            "via",
        ]
        read_only_fields = fields


class RejectSerializer(RejectUnknownFields, serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_TEXT_LENGTH, allow_blank=True, default="")


class HeldFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(HeldStatus.choices, default=HeldStatus.PENDING)


HELD_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The held message's id.")
STATUS_FILTER = OpenApiParameter("status", str, enum=HeldStatus.values, description="Default: pending.")


@extend_schema_view(
    list=extend_schema(parameters=[LIST_ID, STATUS_FILTER]),
    retrieve=extend_schema(parameters=[LIST_ID, HELD_ID]),
)
class HeldMessageViewSet(viewsets.GenericViewSet):
    """/lists/{list_id}/held/: the posts held for moderation, for the list's owners and moderators."""

    serializer_class = HeldMessageSerializer
    permission_classes = [IsAuthenticated, ScopeAllowsMethod]
    # Ids past a bigint match no row; refusing them in the URL keeps them from the database.
    lookup_value_regex = "[0-9]{1,18}"

    @cached_property
    def mailing_list(self) -> MailingList:
        mlist = find_list(visible_lists(self.request.user), self.kwargs["list_id"])
        if not can_moderate(self.request.user, mlist):
            raise PermissionDenied(_("Only owners and moderators of this list may see its held messages."))
        return mlist

    def get_queryset(self) -> QuerySet[HeldMessage]:
        held = HeldMessage.objects.filter(mailing_list=self.mailing_list).select_related(
            "mailing_list__domain", "decided_by"
        )
        # The size without loading the message itself.
        return held.annotate(message_size=F("inbound__size"))

    def get_object(self) -> HeldMessage:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def list(self, request: Request, **kwargs: str) -> Response:
        """Held posts, oldest first; pending ones unless `status` asks for others."""
        wanted = validated_data(HeldFilterSerializer, request.query_params)["status"]
        page = self.paginate_queryset(self.get_queryset().filter(status=wanted).order_by("held_at", "pk"))
        return self.get_paginated_response(HeldMessageSerializer(page, many=True).data)

    @extend_schema(responses=HeldMessagePreviewSerializer)
    def retrieve(self, request: Request, **kwargs: str) -> Response:
        """A held post with a safe preview: its headers decoded, its plain text, and its parts."""
        return Response(HeldMessagePreviewSerializer(self.get_object()).data)

    @extend_schema(parameters=[LIST_ID, HELD_ID], request=None, responses=HeldMessageSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, **kwargs: str) -> Response:
        """Release the post to the list: it is stored, archived and delivered."""
        held = self.get_object()
        with moderation_errors():
            moderation.approve(held, request.user, via=Via.API)
        return Response(HeldMessageSerializer(held).data)

    @extend_schema(parameters=[LIST_ID, HELD_ID], request=RejectSerializer, responses=HeldMessageSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, **kwargs: str) -> Response:
        """Refuse the post; its sender gets a notice with the reason."""
        held = self.get_object()
        reason = validated_data(RejectSerializer, request.data)["reason"]
        with moderation_errors():
            moderation.reject(held, request.user, reason, via=Via.API)
        return Response(HeldMessageSerializer(held).data)

    @extend_schema(parameters=[LIST_ID, HELD_ID], request=None, responses=HeldMessageSerializer)
    @action(detail=True, methods=["post"])
    def discard(self, request: Request, **kwargs: str) -> Response:
        """Drop the post without telling anyone."""
        held = self.get_object()
        with moderation_errors():
            moderation.discard(held, request.user, via=Via.API)
        return Response(HeldMessageSerializer(held).data)

    @extend_schema(parameters=[LIST_ID, HELD_ID], request=None, responses=HeldMessageSerializer)
    @action(detail=True, methods=["post"])
    def defer(self, request: Request, **kwargs: str) -> Response:
        """Leave the post pending; the moderation log notes that someone looked. 409 when decided."""
        held = self.get_object()
        with moderation_errors():
            moderation.defer(held, request.user, via=Via.API)
        return Response(HeldMessageSerializer(held).data)


@extend_schema_view(list=extend_schema(parameters=[LIST_ID]))
class ModerationLogViewSet(viewsets.GenericViewSet):
    """/lists/{list_id}/moderation-log/: who decided what on held posts and
    subscription requests, and when; newest first, for owners and moderators."""

    serializer_class = ModerationRecordSerializer
    permission_classes = [IsAuthenticated, ScopeAllowsMethod]

    def list(self, request: Request, **kwargs: str) -> Response:
        mlist = find_list(visible_lists(request.user), kwargs["list_id"])
        if not can_moderate(request.user, mlist):
            raise PermissionDenied(_("Only owners and moderators of this list may see its moderation log."))
        page = self.paginate_queryset(log_of(mlist))
        return self.get_paginated_response(ModerationRecordSerializer(page, many=True).data)


@contextmanager
def moderation_errors() -> Iterator[None]:
    """Moderation's errors as HTTP answers: 409 when already decided, 503 otherwise."""
    try:
        yield
    except moderation.AlreadyDecided as exc:
        raise Conflict(str(exc)) from exc
    except moderation.ModerationError as exc:
        raise Unavailable(str(exc)) from exc
