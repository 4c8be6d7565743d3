"""Imports API: start an ingest (upload files or an archive, give URLs, or name a server folder),
follow it, read its summary and error report; and ImageNet-style query plans per synset."""

from __future__ import annotations

import csv
from typing import Any

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from curation.api.jobs import JobSerializer
from curation.ingest.reasons import REASON_LABELS
from curation.models import IngestItem, Job, Synset
from curation.selectors.ingest import (
    error_report_rows,
    ingest_errors,
    ingest_jobs,
    ingest_live_summary,
)
from curation.selectors.queries import query_plan
from curation.services.ingest import (
    IngestSourceError,
    SynsetLookupError,
    ingest_check_server_path,
    ingest_start,
)
from curation.services.ingest.uploads import (
    StagingUploadHandler,
    UploadError,
    staging_arrange,
    staging_dir,
    staging_new_token,
    staging_source,
    staging_sweep,
    staging_write_urls,
)


class ImportRequestSerializer(serializers.Serializer):
    """Exactly one of: `files` (multipart; one archive, URL list or manifest, or many images,
    each with an optional relative path in `paths`), `urls` (a list of `url` or `wnid<TAB>url`
    lines), or `source` (a server folder or file under INGEST_SERVER_ROOTS)."""

    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True), required=False
    )
    paths = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=4096), required=False
    )
    urls = serializers.ListField(
        child=serializers.CharField(max_length=8192), required=False, max_length=1_000_000
    )
    source = serializers.CharField(required=False, max_length=4096)
    synset = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    source_name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class ImportSerializer(JobSerializer):
    summary = serializers.SerializerMethodField()
    report_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "summary", "report_url", "page_url"]

    def get_summary(self, obj: Job) -> dict[str, Any]:
        return ingest_live_summary(obj)

    def get_report_url(self, obj: Job) -> str:
        return f"/api/v1/imports/{obj.pk}/report.csv"

    def get_page_url(self, obj: Job) -> str:
        return f"/curate/ingest/{obj.pk}/"


class ImportErrorSerializer(serializers.ModelSerializer):
    item = serializers.CharField(source="uri")
    label = serializers.SerializerMethodField()

    class Meta:
        model = IngestItem
        fields = ["seq", "item", "reason", "label", "message"]

    def get_label(self, obj: IngestItem) -> str:
        return REASON_LABELS.get(obj.reason, obj.reason)


def stream_error_report(job: Job, filename: str) -> StreamingHttpResponse:
    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in error_report_rows(job)), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@extend_schema(tags=["imports"])
class ImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Ingest jobs (kind `ingest`)."""

    serializer_class = ImportSerializer
    filter_backends: list[Any] = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return ingest_jobs()

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        # Uploads stream straight to a staging folder: install the handler before anything
        # (the session CSRF check included) parses the body.
        self.upload_handler: StagingUploadHandler | None = None
        if request.method == "POST" and request.content_type == "multipart/form-data":
            self.upload_handler = StagingUploadHandler(request, staging_new_token())
            request.upload_handlers = [self.upload_handler]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request={
            "multipart/form-data": ImportRequestSerializer,
            "application/json": ImportRequestSerializer,
        },
        responses={202: ImportSerializer},
    )
    def create(self, request: Request) -> Response:
        """Start an ingest; answers 202 with the job (poll /api/v1/jobs/{id}/ for progress)."""
        handler = self.upload_handler
        data_in = request.data  # parses the body (streaming uploads through the handler)
        if handler is not None and handler.error:
            handler.discard()
            return Response(
                {"detail": handler.error}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            )
        payload = ImportRequestSerializer(data=data_in)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        given = [k for k in ("files", "urls", "source") if data.get(k)]
        if len(given) != 1:
            return Response(
                {"detail": "give exactly one of: files (multipart), urls, source"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        staging_sweep()
        trusted = cleanup = False
        try:
            if data.get("files"):
                if handler is None or handler.directory is None:
                    raise UploadError("upload files as multipart/form-data")
                staging_arrange(
                    directory=handler.directory,
                    files=data["files"],
                    relpaths=data.get("paths") or [],
                )
                source = staging_source(handler.directory)
                cleanup = True
            elif data.get("urls"):
                directory = staging_dir(token=staging_new_token(), user=request.user)
                source = staging_write_urls(directory=directory, urls=data["urls"])
                cleanup = True
            else:
                source = ingest_check_server_path(data["source"])
            job = ingest_start(
                source=source,
                synset=data.get("synset") or None,
                source_name=data.get("source_name") or "",
                created_by=request.user,
                trusted=trusted,
                cleanup=cleanup,
            )
        except SynsetLookupError as exc:
            return Response(
                {"detail": str(exc), "unknown": exc.unknown}, status=status.HTTP_400_BAD_REQUEST
            )
        except (IngestSourceError, UploadError) as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(ImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[OpenApiParameter("reason", OpenApiTypes.STR, description="a reason code")],
        responses=ImportErrorSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def errors(self, request: Request, pk: Any = None) -> Response:
        """The items that were not ingested, with reason code and message (paginated)."""
        job = self.get_object()
        page = self.paginate_queryset(ingest_errors(job, reason=request.query_params.get("reason")))
        return self.get_paginated_response(ImportErrorSerializer(page, many=True).data)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], url_path="report.csv")
    def report(self, request: Request, pk: Any = None) -> StreamingHttpResponse:
        """The error report as CSV: item, reason, message."""
        job = self.get_object()
        return stream_error_report(job, f"ingest-{job.pk}-errors.csv")


class PlannedQuerySerializer(serializers.Serializer):
    query = serializers.CharField()
    kind = serializers.CharField()
    parent_wnid = serializers.CharField(allow_blank=True)
    parent_name = serializers.CharField(allow_blank=True)


class QueryPlanSerializer(serializers.Serializer):
    wnid = serializers.CharField()
    name = serializers.CharField()
    queries = PlannedQuerySerializer(many=True)


@extend_schema(tags=["synsets"], responses=QueryPlanSerializer)
class SynsetQueriesView(APIView):
    """ImageNet-style search queries for a synset: its lemmas, and each lemma with a parent
    synset's lemma appended ("husky dog")."""

    def get(self, request: Request, wnid: str) -> Response:
        synset = get_object_or_404(Synset, wnid=wnid)
        plan = query_plan(synset)
        return Response(
            QueryPlanSerializer(
                {"wnid": synset.wnid, "name": synset.name, "queries": [q.__dict__ for q in plan]}
            ).data
        )
