"""Annotator endpoints: next task, submit, heartbeat, own progress (all annotators reach)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.models import Annotator, Study, Vote
from annotate.selectors.tasks import task_payload
from annotate.services.annotators import AnnotatorBlocked, annotator_for_user
from annotate.services.assignment import TaskExpired, TaskNotFound, task_heartbeat, task_next
from annotate.services.submit import (
    SubmitConflict,
    SubmitError,
    annotator_progress,
    parse_answers,
    task_submit,
)
from curation.permissions import IsAnnotator

SESSION_STUDY = "annotate_study"
MAX_ANSWERS = 1000

BLOCKED_DETAIL = "Your annotation account is paused. Contact the project's curators."


class AnswerSerializer(serializers.Serializer):
    item = serializers.CharField(help_text="the item's opaque token from the task")
    shows = serializers.BooleanField(allow_null=True, help_text="null: skipped")
    ms = serializers.IntegerField(required=False, min_value=0, help_text="time on this image")


class SubmitSerializer(serializers.Serializer):
    client_token = serializers.CharField(help_text="idempotency key, e.g. a UUID, 8-64 chars")
    answers = AnswerSerializer(many=True)
    duration_ms = serializers.IntegerField(required=False, min_value=0)


class TaskItemSerializer(serializers.Serializer):
    item = serializers.CharField(help_text="opaque token: answer with it")
    thumb = serializers.CharField()
    original = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class TaskSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    expires_at = serializers.DateTimeField()
    heartbeat_seconds = serializers.IntegerField()
    synset = serializers.DictField(help_text="wnid, lemmas, gloss, path, examples")
    items = TaskItemSerializer(many=True)


class ProgressSerializer(serializers.Serializer):
    tasks_today = serializers.IntegerField()
    images_today = serializers.IntegerField()
    standing = serializers.CharField()


class NextTaskSerializer(serializers.Serializer):
    task = TaskSerializer(allow_null=True)
    progress = ProgressSerializer()


class SubmitReplySerializer(serializers.Serializer):
    task = serializers.CharField()
    recorded = serializers.IntegerField()
    replayed = serializers.BooleanField(required=False)
    completion = serializers.DictField(allow_null=True)
    progress = ProgressSerializer()


def _annotator(request: Request) -> Annotator:
    return annotator_for_user(request.user)


def _study(request: Request) -> Study | None:
    study_id = request.session.get(SESSION_STUDY) if hasattr(request, "session") else None
    return Study.objects.filter(pk=study_id).first() if study_id else None


def vote_source(request: Request) -> str:
    return (
        Vote.Source.API
        if isinstance(request.successful_authenticator, TokenAuthentication)
        else (Vote.Source.UI)
    )


@extend_schema(
    tags=["annotate"],
    parameters=[
        OpenApiParameter(
            "have",
            OpenApiTypes.STR,
            description="comma-separated ids of tasks the client already holds (prefetch)",
        )
    ],
    responses={
        200: NextTaskSerializer,
        403: OpenApiResponse(description="not an annotator, or paused"),
    },
)
@api_view(["GET"])
@permission_classes([IsAnnotator])
def next_task(request: Request) -> Response:
    """The next task: a grid of one synset's candidates that most need votes (leased for
    ANNOTATE_LEASE_SECONDS), or the oldest open task the client does not already hold."""
    annotator = _annotator(request)
    have = [t for t in request.query_params.get("have", "").split(",") if t][:10]
    try:
        task = task_next(annotator=annotator, have=have, study=_study(request))
    except AnnotatorBlocked:
        return Response({"detail": BLOCKED_DETAIL}, status=status.HTTP_403_FORBIDDEN)
    return Response(
        {
            "task": task_payload(task) if task else None,
            "progress": annotator_progress(annotator=annotator),
        }
    )


@extend_schema(
    tags=["annotate"],
    request=SubmitSerializer,
    responses={
        200: SubmitReplySerializer,
        400: OpenApiResponse(description="malformed answers; nothing stored"),
        404: OpenApiResponse(description="no such task for this annotator"),
        409: OpenApiResponse(description="already submitted with another client_token"),
    },
)
@api_view(["POST"])
@permission_classes([IsAnnotator])
def submit(request: Request, token: str) -> Response:
    """Record a task's answers. Idempotent by client_token: a retry replays the stored reply."""
    data: Any = request.data
    if not isinstance(data, dict):
        return Response({"detail": "expected a JSON object"}, status=status.HTTP_400_BAD_REQUEST)
    try:
        answers = parse_answers(data.get("answers"), limit=MAX_ANSWERS)
        reply = task_submit(
            annotator=_annotator(request),
            token=token,
            client_token=data.get("client_token"),
            answers=answers,
            duration_ms=data.get("duration_ms"),
            source=vote_source(request),
        )
    except SubmitError as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    except TaskNotFound as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    except SubmitConflict as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return Response(reply)


@extend_schema(
    tags=["annotate"],
    request=None,
    responses={
        200: inline_serializer("Heartbeat", {"expires_at": serializers.DateTimeField()}),
        404: OpenApiResponse(description="no such task"),
        410: OpenApiResponse(description="the task expired; its images went back to the queue"),
    },
)
@api_view(["POST"])
@permission_classes([IsAnnotator])
def heartbeat(request: Request, token: str) -> Response:
    """Keep an open task's lease while the annotator works on it."""
    try:
        task = task_heartbeat(annotator=_annotator(request), token=token)
    except TaskNotFound as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    except TaskExpired as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_410_GONE)
    return Response({"expires_at": task.expires_at.isoformat(), "status": task.status})


@extend_schema(tags=["annotate"], responses=ProgressSerializer)
@api_view(["GET"])
@permission_classes([IsAnnotator])
def me(request: Request) -> Response:
    """The annotator's own progress: tasks and images today, standing."""
    return Response(annotator_progress(annotator=_annotator(request)))
