"""Images API: metadata, sha256, pHash, every candidacy and origin of an image.

The detail serializer is meant to grow (model predictions, duplicate group): add a
SerializerMethodField and append its name to ImageDetailSerializer.Meta.fields.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from curation.models import Candidate, Image, ImageOrigin, Synset
from curation.storage import original_url, thumb_url


class CandidacySerializer(serializers.ModelSerializer):
    synset = serializers.CharField(source="synset.wnid", read_only=True)
    synset_name = serializers.CharField(source="synset.name", read_only=True)

    class Meta:
        model = Candidate
        fields = [
            "id",
            "synset",
            "synset_name",
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
        ]


class OriginSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImageOrigin
        fields = ["uri", "source", "job", "created_at"]


class ImageSerializer(serializers.ModelSerializer):
    phash = serializers.CharField(source="phash_hex", read_only=True, help_text="64-bit, hex")
    phash_int = serializers.IntegerField(
        source="phash", read_only=True, allow_null=True, help_text="64-bit, signed"
    )
    thumb_url = serializers.SerializerMethodField()
    original_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "sha256",
            "format",
            "mode",
            "width",
            "height",
            "bytes",
            "phash",
            "phash_int",
            "status",
            "thumb_url",
            "original_url",
            "url",
            "created_at",
        ]

    def get_thumb_url(self, obj: Image) -> str:
        return thumb_url(obj.sha256)

    def get_original_url(self, obj: Image) -> str:
        return original_url(obj.sha256)

    def get_url(self, obj: Image) -> str:
        return f"/curate/images/{obj.pk}/"


class ImageDetailSerializer(ImageSerializer):
    candidacies = serializers.SerializerMethodField()
    duplicate_group = serializers.SerializerMethodField()  # duplicate detection (issue 4)
    origins = serializers.SerializerMethodField()

    class Meta(ImageSerializer.Meta):
        fields = [
            *ImageSerializer.Meta.fields,
            "exif_orientation",
            "frames",
            "problems",
            "candidacies",
            "origins",
            "predictions",  # pre-labelling (issue 4)
            "duplicate_group",
        ]

    def get_candidacies(self, obj: Image) -> list[dict[str, Any]]:
        qs = obj.candidates.select_related("synset").order_by("synset__wnid")
        return CandidacySerializer(qs, many=True).data

    def get_origins(self, obj: Image) -> list[dict[str, Any]]:
        return OriginSerializer(obj.origins.order_by("created_at", "id")[:500], many=True).data

    # --- pre-labelling (issue 4) ---
    predictions = serializers.SerializerMethodField(
        help_text="per model: top-5 [wnid, probability] and per-candidate-synset machine scores"
    )

    def get_predictions(self, obj: Image) -> list[dict[str, Any]]:
        from curation.selectors.predictions import image_predictions_api

        return image_predictions_api(obj)

    # --- duplicate detection (issue 4) ---
    duplicate_group = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "nullable": True, "additionalProperties": {}})
    def get_duplicate_group(self, obj: Image) -> dict[str, Any] | None:
        """The image's duplicate group (id, kind, status, representative, members) or null."""
        from curation.selectors.duplicates import image_duplicate_group

        return image_duplicate_group(obj.pk)


@extend_schema(tags=["images"])
class ImageViewSet(viewsets.ReadOnlyModelViewSet):
    """Unique pictures (content-addressed by sha256)."""

    queryset = Image.objects.all()
    filter_backends: list[Any] = []

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return ImageDetailSerializer if self.action == "retrieve" else ImageSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("sha256", OpenApiTypes.STR, description="exact sha256 (hex)"),
            OpenApiParameter("synset", OpenApiTypes.STR, description="images offered for a wnid"),
            OpenApiParameter("format", OpenApiTypes.STR, description="JPEG, PNG, ..."),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        qs = Image.objects.order_by("id")
        if self.action != "list":
            return qs
        params = self.request.query_params
        if params.get("sha256"):
            qs = qs.filter(sha256=params["sha256"].strip().lower())
        if params.get("synset"):
            synset = Synset.objects.filter(wnid=params["synset"].strip()).first()
            if synset is None:
                raise serializers.ValidationError({"synset": f"unknown wnid {params['synset']!r}"})
            qs = qs.filter(candidates__synset=synset)
        if params.get("format"):
            qs = qs.filter(format=params["format"].strip().upper())
        return qs
