"""Synset catalogue API: search, detail with paths and counts, activation, WordNet import."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from curation.api.jobs import JobSerializer
from curation.models import Synset
from curation.presets import PRESETS, PresetError
from curation.selectors.synsets import (
    candidate_counts,
    hypernym_paths,
    synset_children,
    synset_parents,
    synset_search,
)
from curation.services.jobs import job_create, job_dispatch_on_commit
from curation.services.synsets import SynsetLookupError, synsets_activate

CHILDREN_LIMIT = 1000


class SynsetRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Synset
        fields = ["wnid", "name"]


class SynsetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Synset
        fields = [
            "wnid",
            "name",
            "lemmas",
            "gloss",
            "depth",
            "lexname",
            "active",
            "target_images",
            "auto_reject_below",
            "child_count",
            "descendant_count",
        ]


class SynsetDetailSerializer(SynsetSerializer):
    examples = serializers.ListField(child=serializers.CharField())
    parents = serializers.SerializerMethodField()
    children = serializers.SerializerMethodField()
    hypernym_paths = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    subtree_counts = serializers.SerializerMethodField()

    class Meta(SynsetSerializer.Meta):
        fields = [
            *SynsetSerializer.Meta.fields,
            "examples",
            "parents",
            "children",
            "hypernym_paths",
            "counts",
            "subtree_counts",
        ]

    def get_parents(self, obj: Synset) -> list[dict[str, str]]:
        return SynsetRefSerializer(synset_parents(obj), many=True).data

    def get_children(self, obj: Synset) -> list[dict[str, str]]:
        return SynsetRefSerializer(synset_children(obj)[:CHILDREN_LIMIT], many=True).data

    def get_hypernym_paths(self, obj: Synset) -> list[list[dict[str, str]]]:
        return [[{"wnid": s.wnid, "name": s.name} for s in path] for path in hypernym_paths(obj)]

    def get_counts(self, obj: Synset) -> dict[str, int]:
        return candidate_counts(obj)

    def get_subtree_counts(self, obj: Synset) -> dict[str, int]:
        return candidate_counts(obj, subtree=True)


class ActivateSerializer(serializers.Serializer):
    synsets = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, default=list, max_length=50_000
    )
    subtree = serializers.BooleanField(default=False)
    preset = serializers.ChoiceField(choices=list(PRESETS), required=False, allow_null=True)
    target = serializers.IntegerField(
        min_value=0, max_value=10_000_000, required=False, allow_null=True
    )
    active = serializers.BooleanField(default=True)


class SubtreeActivateSerializer(serializers.Serializer):
    subtree = serializers.BooleanField(default=False)
    target = serializers.IntegerField(
        min_value=0, max_value=10_000_000, required=False, allow_null=True
    )
    active = serializers.BooleanField(default=True)


class ActivationResultSerializer(serializers.Serializer):
    matched = serializers.IntegerField()
    changed = serializers.IntegerField()
    already = serializers.IntegerField()
    target = serializers.IntegerField(allow_null=True)
    target_changed = serializers.IntegerField()


class WordnetImportSerializer(serializers.Serializer):
    wordnet_dir = serializers.CharField(required=False, allow_blank=True, max_length=1024)


def _activate(data: dict[str, Any], identifiers: list[str], actor: Any) -> Response:
    try:
        summary = synsets_activate(
            actor=actor,
            identifiers=identifiers,
            subtree=data.get("subtree", False),
            preset=data.get("preset"),
            target=data.get("target"),
            active=data.get("active", True),
        )
    except SynsetLookupError as exc:
        return Response(
            {"detail": str(exc), "unknown": exc.unknown}, status=status.HTTP_400_BAD_REQUEST
        )
    except (ValueError, PresetError) as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return Response(ActivationResultSerializer(summary).data)


@extend_schema(tags=["synsets"])
class SynsetViewSet(viewsets.ReadOnlyModelViewSet):
    """WordNet 3.0 noun synsets. Look up by wnid (`n02084071`)."""

    lookup_field = "wnid"
    lookup_value_regex = r"n\d{8}"
    serializer_class = SynsetSerializer
    queryset = Synset.objects.all()
    filter_backends: list[Any] = []

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return SynsetDetailSerializer if self.action == "retrieve" else SynsetSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="lemma, name or wnid"),
            OpenApiParameter("active", OpenApiTypes.BOOL),
            OpenApiParameter("under", OpenApiTypes.STR, description="descendants of this wnid"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if self.action != "list":
            return Synset.objects.all()
        params = self.request.query_params
        active_raw = params.get("active", "").lower()
        active = {"true": True, "1": True, "false": False, "0": False}.get(active_raw)
        if active_raw and active is None:
            raise serializers.ValidationError({"active": "use true or false"})
        under = params.get("under") or None
        if under and not Synset.objects.filter(wnid=under).exists():
            raise serializers.ValidationError({"under": f"unknown wnid {under!r}"})
        return synset_search(q=params.get("q", "")[:200], active=active, under=under)

    @extend_schema(request=ActivateSerializer, responses=ActivationResultSerializer)
    @action(detail=False, methods=["post"])
    def activate(self, request: Request) -> Response:
        """Activate synsets by wnid/name (optionally whole subtrees) or a preset."""
        payload = ActivateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _activate(payload.validated_data, payload.validated_data["synsets"], request.user)

    @extend_schema(
        request=SubtreeActivateSerializer,
        responses=ActivationResultSerializer,
        operation_id="synsets_activate_one",
    )
    @action(detail=True, methods=["post"], url_path="activate")
    def activate_one(self, request: Request, wnid: str) -> Response:
        """Activate this synset (and its subtree with `subtree=true`)."""
        synset = get_object_or_404(Synset, wnid=wnid)
        payload = SubtreeActivateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _activate(payload.validated_data, [synset.wnid], request.user)

    @extend_schema(request=WordnetImportSerializer, responses={202: JobSerializer})
    @action(detail=False, methods=["post"], url_path="import-wordnet")
    def import_wordnet(self, request: Request) -> Response:
        """Start the WordNet 3.0 import as a job (idempotent)."""
        payload = WordnetImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        with transaction.atomic():
            job = job_create(
                kind="import_wordnet",
                params={"wordnet_dir": payload.validated_data.get("wordnet_dir") or None},
                created_by=request.user,
            )
            job_dispatch_on_commit(job=job)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
