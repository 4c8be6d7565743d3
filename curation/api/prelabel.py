"""Model registry, pre-labelling and auto-reject API (curators only, the project default)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from curation.api.jobs import JobSerializer
from curation.models import ModelArtifact, Prediction, Synset
from curation.services.auto_reject import synset_auto_reject_set
from curation.services.models import ModelNotFound, model_activate, model_register_default
from curation.services.prelabel import PrelabelError, prelabel_start


class ModelArtifactSerializer(serializers.ModelSerializer):
    class_count = serializers.SerializerMethodField()
    predictions = serializers.SerializerMethodField()

    class Meta:
        model = ModelArtifact
        fields = [
            "id", "name", "kind", "architecture", "class_count", "weights", "input_size",
            "mean", "std", "embedding_dim", "provenance", "metrics", "active", "predictions",
            "created_at",
        ]  # fmt: skip

    def get_class_count(self, obj: ModelArtifact) -> int:
        return len(obj.classes)

    def get_predictions(self, obj: ModelArtifact) -> int:
        return Prediction.objects.filter(model=obj).count()


@extend_schema(tags=["models"])
class ModelArtifactViewSet(viewsets.ReadOnlyModelViewSet):
    """Registered pre-label models; `active` marks the one in use."""

    serializer_class = ModelArtifactSerializer
    lookup_value_regex = r"[0-9]{1,18}"
    filter_backends: list[Any] = []
    pagination_class = None

    def get_queryset(self):  # type: ignore[no-untyped-def]
        model_register_default()
        return ModelArtifact.objects.order_by("-active", "name")

    @extend_schema(request=None, responses=ModelArtifactSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        """Make this the pre-label model."""
        model = model_activate(model=get_object_or_404(ModelArtifact, pk=pk), actor=request.user)
        return Response(ModelArtifactSerializer(model).data)


class PrelabelRequestSerializer(serializers.Serializer):
    model = serializers.CharField(
        required=False, allow_blank=True, help_text="name; default active"
    )
    synset = serializers.CharField(required=False, allow_blank=True, help_text="wnid or name")


@extend_schema(tags=["models"])
class PrelabelView(APIView):
    """Start pre-labelling the images that lack a prediction (a job on the gpu queue)."""

    @extend_schema(request=PrelabelRequestSerializer, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        payload = PrelabelRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            job = prelabel_start(
                model=data.get("model") or None,
                synset=data.get("synset") or None,
                created_by=request.user,
            )
        except (ModelNotFound, PrelabelError) as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class AutoRejectSerializer(serializers.Serializer):
    auto_reject_below = serializers.FloatField(
        allow_null=True, min_value=0.0, max_value=1.0, help_text="null turns it off"
    )


@extend_schema(tags=["synsets"])
class SynsetAutoRejectView(APIView):
    """A synset's auto-reject threshold on the machine score (gold and voted items never)."""

    @extend_schema(responses=AutoRejectSerializer)
    def get(self, request: Request, wnid: str) -> Response:
        synset = get_object_or_404(Synset, wnid=wnid)
        return Response({"auto_reject_below": synset.auto_reject_below})

    @extend_schema(request=AutoRejectSerializer, responses=AutoRejectSerializer)
    def put(self, request: Request, wnid: str) -> Response:
        synset = get_object_or_404(Synset, wnid=wnid)
        payload = AutoRejectSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rejected = synset_auto_reject_set(
            synset=synset,
            threshold=payload.validated_data["auto_reject_below"],
            actor=request.user,
        )
        return Response({"auto_reject_below": synset.auto_reject_below, "rejected": rejected})

    patch = put
