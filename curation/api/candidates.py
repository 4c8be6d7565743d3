"""Candidates API: "does image I depict synset S?", filtered by synset, state, source, size."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from curation.models import Candidate, Synset
from curation.selectors.images import SIZE_FILTERS, SORTS, candidate_search
from curation.storage import thumb_url


class CandidateSerializer(serializers.ModelSerializer):
    synset = serializers.CharField(source="synset.wnid", read_only=True)
    image_sha256 = serializers.CharField(source="image.sha256", read_only=True)
    thumb_url = serializers.SerializerMethodField()
    width = serializers.IntegerField(source="image.width", read_only=True)
    height = serializers.IntegerField(source="image.height", read_only=True)

    class Meta:
        model = Candidate
        fields = [
            "id",
            "image",
            "image_sha256",
            "thumb_url",
            "width",
            "height",
            "synset",
            "source",
            "query",
            "state",
            "machine_score",
            "votes_yes",
            "votes_no",
            "confidence",
            "decided_by",
            "decided_at",
            "job",
            "created_at",
            "updated_at",
        ]

    def get_thumb_url(self, obj: Candidate) -> str:
        return thumb_url(obj.image.sha256)


@extend_schema(tags=["candidates"])
class CandidateViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CandidateSerializer
    queryset = Candidate.objects.all()
    filter_backends: list[Any] = []

    @extend_schema(
        parameters=[
            OpenApiParameter("synset", OpenApiTypes.STR, description="wnid, e.g. n02084071"),
            OpenApiParameter("state", OpenApiTypes.STR, enum=list(Candidate.State.values)),
            OpenApiParameter("source", OpenApiTypes.STR, description="source name, exact"),
            OpenApiParameter("image", OpenApiTypes.INT, description="image id"),
            OpenApiParameter("size", OpenApiTypes.STR, enum=list(SIZE_FILTERS)),
            OpenApiParameter("sort", OpenApiTypes.STR, enum=list(SORTS)),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if self.action != "list":
            return Candidate.objects.select_related("image", "synset")
        params = self.request.query_params
        errors: dict[str, str] = {}
        synset = None
        if params.get("synset"):
            synset = Synset.objects.filter(wnid=params["synset"].strip()).first()
            if synset is None:
                errors["synset"] = f"unknown wnid {params['synset']!r}"
        state = params.get("state") or None
        if state and state not in Candidate.State.values:
            errors["state"] = f"one of {', '.join(Candidate.State.values)}"
        size = params.get("size") or None
        if size and size not in SIZE_FILTERS:
            errors["size"] = f"one of {', '.join(SIZE_FILTERS)}"
        sort = params.get("sort") or "newest"
        if sort not in SORTS:
            errors["sort"] = f"one of {', '.join(SORTS)}"
        image_id = None
        if params.get("image"):
            try:
                image_id = int(params["image"])
            except ValueError:
                errors["image"] = "an image id (integer)"
        if errors:
            raise serializers.ValidationError(errors)
        return candidate_search(
            synset=synset,
            state=state,
            source=params.get("source"),
            size=size,
            sort=sort,
            image_id=image_id,
        )
