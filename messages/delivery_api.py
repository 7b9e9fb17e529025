"""GET /api/v3/lists/{list_id}/posts/{sequence}/delivery: how far a post's
delivery has got, for the list's owners and moderators and site admins."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import ScopeAllowsMethod, can_read_roster, visible_lists
from lists.api import LIST_ID, find_list
from messages.delivery import progress
from messages.models import Post

# Post.sequence is a PositiveIntegerField: larger numbers name no post.
MAX_SEQUENCE = 2**31 - 1


class DeliveryProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Recipients in the snapshot taken when the post was accepted.")
    sent = serializers.IntegerField(help_text="Accepted by the outgoing MTA.")
    failed = serializers.IntegerField(help_text="Refused for good (5xx) or given up after retries.")
    pending = serializers.IntegerField(help_text="Not sent yet, or waiting to retry a temporary failure.")


class DeliveryProgressView(APIView):
    permission_classes = [IsAuthenticated, ScopeAllowsMethod]

    @extend_schema(
        parameters=[LIST_ID, OpenApiParameter("sequence", int, OpenApiParameter.PATH, description="The post number.")],
        responses=DeliveryProgressSerializer,
    )
    def get(self, request: Request, list_id: str, sequence: str) -> Response:
        mlist = find_list(visible_lists(request.user), list_id)
        if not can_read_roster(request.user, mlist):
            raise PermissionDenied(_("Only owners and moderators of this list may see delivery progress."))
        if int(sequence) > MAX_SEQUENCE:
            raise NotFound()
        post = get_object_or_404(Post, mailing_list=mlist, sequence=int(sequence))
        return Response(DeliveryProgressSerializer(progress(post).as_dict()).data)
