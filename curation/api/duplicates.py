"""Duplicates API (curators): list groups with filters, and the review actions.

GET  /api/v1/duplicates/?kind=exact|near_exact|near&crosses_synsets=true|false&status=...
GET  /api/v1/duplicates/{id}/
POST /api/v1/duplicates/{id}/confirm/
POST /api/v1/duplicates/{id}/split/           {"image": <image id>}  ("not a duplicate")
POST /api/v1/duplicates/{id}/representative/  {"image": <image id>}
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from curation.models import DuplicateGroup, DuplicateMember
from curation.permissions import IsCurator
from curation.selectors.duplicates import FilterError, duplicate_groups
from curation.services.dedup import (
    DuplicateReviewError,
    duplicate_group_confirm,
    duplicate_group_set_representative,
    duplicate_group_split,
)
from curation.storage import thumb_url


class DuplicateMemberSerializer(serializers.ModelSerializer):
    image = serializers.IntegerField(source="image_id", read_only=True)
    width = serializers.IntegerField(source="image.width", read_only=True)
    height = serializers.IntegerField(source="image.height", read_only=True)
    thumb_url = serializers.SerializerMethodField()

    class Meta:
        model = DuplicateMember
        fields = ["image", "kind", "similarity", "width", "height", "thumb_url"]

    def get_thumb_url(self, obj: DuplicateMember) -> str:
        return thumb_url(obj.image.sha256)


class DuplicateGroupSerializer(serializers.ModelSerializer):
    members = DuplicateMemberSerializer(many=True, read_only=True)
    member_ids = serializers.SerializerMethodField()

    class Meta:
        model = DuplicateGroup
        fields = [
            "id",
            "kind",
            "status",
            "size",
            "representative",
            "crosses_synsets",
            "min_similarity",
            "member_ids",
            "members",
            "created_at",
            "updated_at",
        ]

    def get_member_ids(self, obj: DuplicateGroup) -> list[int]:
        return sorted(m.image_id for m in obj.members.all())


class ImageChoiceSerializer(serializers.Serializer):
    image = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


@extend_schema(tags=["duplicates"])
class DuplicateGroupViewSet(viewsets.ReadOnlyModelViewSet):
    """Duplicate groups, largest first. Curators only."""

    permission_classes = [IsCurator]
    serializer_class = DuplicateGroupSerializer
    filter_backends: list[Any] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        p = self.request.query_params
        try:
            return duplicate_groups(
                kind=p.get("kind") or None,
                crosses_synsets=p.get("crosses_synsets"),
                status=p.get("status") or None,
                image=p.get("image"),
            )
        except FilterError as exc:
            raise ValidationError({"detail": str(exc)}) from exc

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=["exact", "near_exact", "near"]),
            OpenApiParameter("crosses_synsets", OpenApiTypes.BOOL),
            OpenApiParameter("status", OpenApiTypes.STR, enum=["proposed", "confirmed"]),
            OpenApiParameter("image", OpenApiTypes.INT, description="the group of this image"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def _image(self, request: Request) -> int:
        ser = ImageChoiceSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return int(ser.validated_data["image"])

    def _reply(self, group: DuplicateGroup | None) -> Response:
        """The group as it is now; `null` when the action dissolved it."""
        obj = duplicate_groups().filter(pk=group.pk).first() if group is not None else None
        return Response({"group": DuplicateGroupSerializer(obj).data if obj else None})

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        group = duplicate_group_confirm(group=self.get_object(), actor=request.user)
        return self._reply(group)

    @extend_schema(
        request=inline_serializer("DuplicateImageChoice", {"image": serializers.IntegerField()}),
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["post"])
    def split(self, request: Request, pk: str | None = None) -> Response:
        group, image = self.get_object(), self._image(request)
        try:
            left = duplicate_group_split(group=group, image_id=image, actor=request.user)
        except DuplicateReviewError as exc:
            raise ValidationError({"image": str(exc)}) from exc
        return self._reply(left)

    @extend_schema(
        request=inline_serializer("DuplicateImageChoice2", {"image": serializers.IntegerField()}),
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["post"])
    def representative(self, request: Request, pk: str | None = None) -> Response:
        group, image = self.get_object(), self._image(request)
        try:
            group = duplicate_group_set_representative(
                group=group, image_id=image, actor=request.user
            )
        except DuplicateReviewError as exc:
            raise ValidationError({"image": str(exc)}) from exc
        return self._reply(group)
