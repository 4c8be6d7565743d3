"""Curator endpoints for external studies (Prolific, AMT): signed per-worker links."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.models import Annotator, Study
from annotate.services.external import link_path, link_token, study_create


class StudySerializer(serializers.ModelSerializer):
    class Meta:
        model = Study
        fields = [
            "id",
            "name",
            "platform",
            "completion_code",
            "tasks_required",
            "return_url",
            "link_hours",
            "active",
            "created_at",
        ]
        read_only_fields = ["completion_code", "created_at"]
        # The same bounds as study_create and the table's check constraints (PATCH too).
        extra_kwargs = {
            "tasks_required": {"min_value": 1, "max_value": 1000},
            "link_hours": {"min_value": 1, "max_value": 24 * 365},
        }

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("a study needs a name")
        return value.strip()

    def validate_return_url(self, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise serializers.ValidationError("return_url must be an http(s) URL")
        return value


class LinksSerializer(serializers.Serializer):
    workers = serializers.ListField(child=serializers.CharField(max_length=200), max_length=10_000)
    external_ref = serializers.CharField(required=False, allow_blank=True, max_length=128)


@extend_schema(tags=["quality"])
class StudyViewSet(viewsets.ModelViewSet):
    """External studies (Prolific, AMT): signed per-worker links and a completion code."""

    serializer_class = StudySerializer
    queryset = Study.objects.all()
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = study_create(
                name=data["name"],
                platform=data.get("platform", Annotator.Platform.PROLIFIC),
                tasks_required=data.get("tasks_required", 5),
                return_url=data.get("return_url", ""),
                link_hours=data.get("link_hours", 72),
                created_by=self.request.user,
            )
        except ValueError as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc

    @extend_schema(request=LinksSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def links(self, request: Request, pk: Any = None) -> Response:
        """One signed link per worker id; invalid ids are reported, the rest linked."""
        study = self.get_object()
        serializer = LinksSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        links, problems = [], []
        base = request.build_absolute_uri("/").rstrip("/")
        for worker in serializer.validated_data["workers"]:
            try:
                token = link_token(
                    study=study,
                    worker_id=worker,
                    external_ref=serializer.validated_data.get("external_ref", ""),
                )
            except ValueError as exc:
                problems.append({"worker": worker[:60], "reason": str(exc)})
                continue
            links.append({"worker": worker.strip(), "url": base + link_path(token)})
        return Response({"links": links, "problems": problems})
