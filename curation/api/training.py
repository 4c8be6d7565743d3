"""Training runs API: list, start (→ run + job), detail (history, metrics), cancel, register."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from curation.api.jobs import JobSerializer
from curation.models import DatasetVersion, TrainingRun
from curation.services.training import (
    MAX_EPOCHS,
    TRAINING_ARCHS,
    TrainingRunError,
    training_run_cancel,
    training_run_register,
    training_run_start,
    training_run_sync,
)


class TrainingRunSerializer(serializers.ModelSerializer):
    dataset_version = serializers.SlugRelatedField(slug_field="name", read_only=True)
    job = JobSerializer(read_only=True)
    model_artifact = serializers.SlugRelatedField(slug_field="name", read_only=True)
    url = serializers.SerializerMethodField()
    top1 = serializers.SerializerMethodField()
    top5 = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id", "dataset_version", "arch", "epochs", "config", "status", "top1", "top5",
            "cancel_requested", "model_artifact", "job", "out_dir", "created_at", "started_at",
            "finished_at", "url",
        ]  # fmt: skip

    def get_url(self, obj: TrainingRun) -> str:
        return f"/curate/runs/{obj.pk}/"

    def get_top1(self, obj: TrainingRun) -> float | None:
        return (obj.metrics or {}).get("top1")

    def get_top5(self, obj: TrainingRun) -> float | None:
        return (obj.metrics or {}).get("top5")


class TrainingRunDetailSerializer(TrainingRunSerializer):
    class Meta(TrainingRunSerializer.Meta):
        fields = [*TrainingRunSerializer.Meta.fields, "history", "metrics", "log_tail"]


class TrainingRunCreateSerializer(serializers.Serializer):
    dataset_version = serializers.SlugRelatedField(
        slug_field="name", queryset=DatasetVersion.objects.all(), help_text="export name"
    )
    arch = serializers.ChoiceField(choices=TRAINING_ARCHS, default="resnet18")
    epochs = serializers.IntegerField(min_value=1, max_value=MAX_EPOCHS, default=10)
    config = serializers.DictField(required=False, default=dict)


class RegisterSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    activate = serializers.BooleanField(default=False)


@extend_schema(tags=["training-runs"])
class TrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = TrainingRun.objects.select_related("dataset_version", "job", "model_artifact")

    def get_object(self) -> TrainingRun:
        return training_run_sync(run=super().get_object())

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.action == "retrieve":
            return TrainingRunDetailSerializer
        return TrainingRunSerializer

    @extend_schema(request=TrainingRunCreateSerializer, responses={201: TrainingRunSerializer})
    def create(self, request: Request) -> Response:
        data = TrainingRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            run = training_run_start(
                dataset_version=data.validated_data["dataset_version"],
                arch=data.validated_data["arch"], epochs=data.validated_data["epochs"],
                config=data.validated_data["config"], created_by=request.user,
            )  # fmt: skip
        except TrainingRunError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TrainingRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: Any = None) -> Response:
        run = training_run_cancel(run=self.get_object(), actor=request.user)
        run.refresh_from_db()
        return Response(TrainingRunSerializer(run).data)

    @extend_schema(request=RegisterSerializer, responses={201: TrainingRunSerializer})
    @action(detail=True, methods=["post"])
    def register(self, request: Request, pk: Any = None) -> Response:
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            training_run_register(
                run=self.get_object(), name=data.validated_data["name"], actor=request.user,
                activate=data.validated_data["activate"],
            )  # fmt: skip
        except TrainingRunError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        run = self.get_queryset().get(pk=pk)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)
