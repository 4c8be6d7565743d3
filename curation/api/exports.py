"""Exports API: list and create versions (→ an `export` job), preview counts, downloads."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from curation.api.jobs import JobSerializer
from curation.models import DatasetVersion
from curation.selectors.exports import export_download, export_version, export_versions
from curation.services.exports import (
    ExportConfigError,
    export_create,
    export_preview,
    export_sync_status,
)


class DatasetVersionSerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True)
    created_by = serializers.CharField(source="created_by.username", default="", read_only=True)
    url = serializers.SerializerMethodField()
    downloads = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "name",
            "status",
            "config",
            "seed",
            "path",
            "counts",
            "leakage",
            "manifest_sha256",
            "num_classes",
            "num_images",
            "error",
            "job",
            "created_by",
            "created_at",
            "finished_at",
            "url",
            "downloads",
        ]

    def get_url(self, obj: DatasetVersion) -> str:
        return f"/curate/exports/{obj.name}/"

    def get_downloads(self, obj: DatasetVersion) -> dict[str, str]:
        if obj.status != DatasetVersion.Status.READY:
            return {}
        base = f"/api/v1/exports/{obj.name}/download/"
        names = ["manifest.jsonl", "manifest.csv", "synsets.txt", "dataset.json", "tar"]
        return {n: base + n for n in names}


class ExportRequestSerializer(serializers.Serializer):
    """`config` holds synsets or subtree (+ rollup), min/max_per_class, val/test per class or
    fraction, formats, imagefolder_mode, shard_max_bytes, duplicates, multiclass."""

    name = serializers.CharField(max_length=200)
    seed = serializers.JSONField(required=False, default=0)
    config = serializers.JSONField()


def _bad(exc: ExportConfigError) -> Response:
    return Response({"errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise ExportConfigError({"body": "must be a JSON object"})
    return data


@extend_schema(tags=["exports"])
class ExportListView(APIView):
    @extend_schema(responses=DatasetVersionSerializer(many=True))
    def get(self, request: Request) -> Response:
        versions = [export_sync_status(v) for v in export_versions()[:200]]
        return Response(DatasetVersionSerializer(versions, many=True).data)

    @extend_schema(request=ExportRequestSerializer, responses={202: DatasetVersionSerializer})
    def post(self, request: Request) -> Response:
        try:
            data = _body(request)
            config = data.get("config")
            if config is None:  # flat body: the config's keys beside name and seed
                config = {k: v for k, v in data.items() if k not in ("name", "seed")}
            version = export_create(
                name=data.get("name"),
                config=config,
                seed=data.get("seed", 0),
                created_by=request.user,
            )
        except ExportConfigError as exc:
            return _bad(exc)
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["exports"])
class ExportPreviewView(APIView):
    @extend_schema(request=ExportRequestSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request) -> Response:
        try:
            data = _body(request)
            config = data.get("config")
            if config is None:
                config = {k: v for k, v in data.items() if k not in ("name", "seed")}
            return Response(export_preview(config=config, seed=data.get("seed", 0)))
        except ExportConfigError as exc:
            return _bad(exc)


@extend_schema(tags=["exports"])
class ExportDetailView(APIView):
    @extend_schema(responses=DatasetVersionSerializer)
    def get(self, request: Request, name: str) -> Response:
        return Response(DatasetVersionSerializer(export_version(name)).data)


@extend_schema(tags=["exports"], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
class ExportDownloadView(APIView):
    def get(self, request: Request, name: str, file: str) -> Any:
        return export_download(export_version(name), file)
