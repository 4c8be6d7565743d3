"""Jobs API: progress of every long-running task."""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from curation.models import Job
from curation.services.jobs import job_cancel


class JobSerializer(serializers.ModelSerializer):
    rate = serializers.FloatField(read_only=True, allow_null=True, help_text="items per second")
    eta_seconds = serializers.FloatField(read_only=True, allow_null=True)
    fraction = serializers.FloatField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "title",
            "status",
            "done",
            "total",
            "errors",
            "fraction",
            "rate",
            "eta_seconds",
            "message",
            "error",
            "params",
            "result",
            "attempts",
            "queue",
            "celery_task_id",
            "parent",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "url",
        ]

    def get_url(self, obj: Job) -> str:
        return f"/curate/jobs/{obj.pk}/"


class JobFilter(filters.FilterSet):
    class Meta:
        model = Job
        fields = {"kind": ["exact"], "status": ["exact"]}


@extend_schema(tags=["jobs"])
class JobViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = JobSerializer
    queryset = Job.objects.all()
    filterset_class = JobFilter

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: Any = None) -> Response:
        job = job_cancel(job=self.get_object())
        return Response(JobSerializer(job).data)
