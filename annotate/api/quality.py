"""Curator endpoints: synset quality and policy, annotators (stats, block), gold, adjudication,
consensus runs, studies and signed links, votes import. Curators only (the API's default)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.plumbing import build_array_type, build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from annotate.models import Annotator, GoldItem, SynsetConsensus
from annotate.selectors.quality import (
    escalated_queryset,
    synset_quality,
    synset_quality_rows,
    votes_per_decision_histogram,
)
from annotate.services.annotators import annotator_set_status
from annotate.services.consensus import consensus_job, consensus_update
from annotate.services.consensus.jobs import dispatch_quietly
from annotate.services.gold import (
    CandidateNotEligible,
    candidate_adjudicate,
    gold_mark,
    gold_unmark,
)
from curation.api.jobs import JobSerializer
from curation.api.pagination import Pagination
from curation.models import Candidate, Synset
from curation.selectors.synsets import synset_get
from curation.storage import thumb_url

# --- synsets --------------------------------------------------------------------------------------

AN_OBJECT = build_basic_type(OpenApiTypes.OBJECT)
LIST_OF_OBJECTS = build_array_type(AN_OBJECT)


class SynsetPolicySerializer(serializers.Serializer):
    method = serializers.ChoiceField(
        choices=[("", "site default"), *SynsetConsensus.Method.choices], required=False
    )
    majority_votes = serializers.IntegerField(min_value=1, max_value=25, required=False)
    threshold_override = serializers.FloatField(
        min_value=0.5, max_value=0.99999, allow_null=True, required=False
    )

    def validate_threshold_override(self, value: float | None) -> float | None:
        if value is not None and value <= 0.5:
            raise serializers.ValidationError("must be above 0.5")
        return value


def _consensus_dict(c: SynsetConsensus | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "method": c.method,
        "majority_votes": c.majority_votes,
        "threshold_override": c.threshold_override,
        "calibrated": c.calibrated,
        "calibrated_at": c.calibrated_at,
        "model": c.model,
        "threshold_accept": c.threshold_accept,
        "threshold_reject": c.threshold_reject,
        "predicted_precision": c.predicted_precision,
        "predicted_reject_precision": c.predicted_reject_precision,
        "predicted_votes_per_decided": c.predicted_votes,
        "predicted_escalated": c.predicted_escalated,
        "table": c.table,
        "fitted_at": c.fitted_at,
        "alpha": c.alpha,
        "kappa": c.kappa,
    }


@extend_schema(tags=["quality"])
class SynsetQualityViewSet(viewsets.ViewSet):
    """Per-synset quality: counts, votes per decided, estimated precision, calibration table,
    agreement; PATCH sets the synset's consensus policy."""

    lookup_field = "wnid"
    lookup_value_regex = r"[^/]+"

    def _synset(self, wnid: str) -> Synset:
        synset = synset_get(wnid)
        if synset is None:
            from django.http import Http404

            raise Http404(f"no synset {wnid}")
        return synset

    @extend_schema(operation_id="quality_synsets_list", responses={200: AN_OBJECT})
    def list(self, request: Request) -> Response:
        rows = synset_quality_rows(q=request.query_params.get("q", "")[:200])
        return Response(
            [
                {
                    "wnid": r["synset"].wnid,
                    "name": r["synset"].name,
                    "counts": r["counts"],
                    "votes": r["votes"],
                    "votes_per_decided": r["votes_per_decided"],
                    "precision_estimate": r["precision"],
                    "alpha": r["alpha"],
                    "kappa": r["kappa"],
                    "calibrated": r["calibrated"],
                    "method": r["method"],
                }
                for r in rows
            ]
        )

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def retrieve(self, request: Request, wnid: str | None = None) -> Response:
        data = synset_quality(self._synset(wnid or ""))
        return Response(
            {
                "wnid": data["synset"].wnid,
                "name": data["synset"].name,
                "counts": data["counts"],
                "votes": data["votes"],
                "votes_per_decided": data["votes_per_decided"],
                "positives": data["positives"],
                "method": data["policy"].method,
                "consensus": _consensus_dict(data["consensus"]),
                "calibration": {
                    "items": len(data["calibration"]),
                    "complete_items": data["calibration_done"],
                },
                "votes_per_decision": data["histogram"],
                "precision_over_time": [
                    {
                        "at": s.created_at,
                        "precision": s.precision_estimate,
                        "decided": s.accepted + s.rejected,
                    }
                    for s in data["series"]
                ],
                "gold_items": data["gold"],
            }
        )

    @extend_schema(request=SynsetPolicySerializer, responses=OpenApiTypes.OBJECT)
    def partial_update(self, request: Request, wnid: str | None = None) -> Response:
        synset = self._synset(wnid or "")
        serializer = SynsetPolicySerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            row, _ = SynsetConsensus.objects.get_or_create(synset=synset)
            for key, value in serializer.validated_data.items():
                setattr(row, key, value)
            row.save()
            ids = list(Candidate.objects.filter(synset=synset).values_list("pk", flat=True))
            consensus_update(candidate_ids=ids)
        return Response(_consensus_dict(row))


# --- annotators -----------------------------------------------------------------------------------


class AnnotatorSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True)
    gold_accuracy = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Annotator
        fields = [
            "id",
            "label",
            "platform",
            "external_id",
            "status",
            "status_reason",
            "votes_count",
            "median_ms",
            "gold_answers",
            "gold_correct",
            "gold_accuracy",
            "sensitivity",
            "specificity",
            "trust",
            "weight_yes",
            "weight_no",
            "agreement",
            "last_seen_at",
        ]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)


@extend_schema(tags=["quality"])
class AnnotatorViewSet(viewsets.ReadOnlyModelViewSet):
    """Annotators with their figures; block (votes stop counting, decisions recomputed),
    flag, reinstate."""

    serializer_class = AnnotatorSerializer
    queryset = Annotator.objects.select_related("user").order_by("-votes_count", "pk")

    def _status(self, request: Request, status_value: str) -> Response:
        annotator = self.get_object()
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        touched = annotator_set_status(
            annotator=annotator,
            status=status_value,
            reason=reason.validated_data.get("reason", ""),
            by=request.user,
        )
        annotator.refresh_from_db()
        return Response({**AnnotatorSerializer(annotator).data, "recomputed": len(touched)})

    @extend_schema(request=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def block(self, request: Request, pk: Any = None) -> Response:
        return self._status(request, Annotator.Status.BLOCKED)

    @extend_schema(request=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def flag(self, request: Request, pk: Any = None) -> Response:
        return self._status(request, Annotator.Status.FLAGGED)

    @extend_schema(request=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def unblock(self, request: Request, pk: Any = None) -> Response:
        return self._status(request, Annotator.Status.ACTIVE)


# --- gold and adjudication ------------------------------------------------------------------------


class GoldSerializer(serializers.Serializer):
    candidate = serializers.IntegerField()
    truth = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


def _candidate_dict(c: Candidate) -> dict[str, Any]:
    return {
        "id": c.pk,
        "wnid": c.synset.wnid,
        "state": c.state,
        "votes_yes": c.votes_yes,
        "votes_no": c.votes_no,
        "confidence": c.confidence,
        "decided_by": c.decided_by,
        "thumb": thumb_url(c.image.sha256),
    }


class ReviewCandidateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    wnid = serializers.CharField()
    state = serializers.CharField()
    votes_yes = serializers.IntegerField()
    votes_no = serializers.IntegerField()
    confidence = serializers.FloatField(allow_null=True)
    decided_by = serializers.CharField(allow_blank=True)
    thumb = serializers.CharField()


class GoldItemSerializer(ReviewCandidateSerializer):
    truth = serializers.BooleanField()
    note = serializers.CharField(allow_blank=True)


SYNSET_FILTER = OpenApiParameter("synset", str, description="wnid or name: one synset only")


def _synset_filter(request: Request) -> Synset | None:
    """The ?synset= filter: None when absent; 404 when it names no synset (not "everything")."""
    value = request.query_params.get("synset", "").strip()
    if not value:
        return None
    synset = synset_get(value)
    if synset is None:
        raise NotFound(f"no synset {value!r}")
    return synset


@extend_schema(tags=["quality"])
class GoldViewSet(viewsets.GenericViewSet):
    """Gold items: candidates whose truth a curator fixed (hidden from annotators)."""

    lookup_value_regex = r"\d+"
    pagination_class = Pagination
    serializer_class = GoldItemSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        rows = GoldItem.objects.select_related("candidate__synset", "candidate__image")
        synset = _synset_filter(self.request)
        if synset is not None:
            rows = rows.filter(candidate__synset=synset)
        truth = self.request.query_params.get("truth", "").strip().lower()
        if truth in ("yes", "true", "1", "no", "false", "0"):
            rows = rows.filter(truth=truth in ("yes", "true", "1"))
        return rows.order_by("-created_at", "pk")

    @extend_schema(
        parameters=[
            SYNSET_FILTER,
            OpenApiParameter("truth", str, enum=["yes", "no"], description="gold truth"),
        ]
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        data = [{**_candidate_dict(g.candidate), "truth": g.truth, "note": g.note} for g in page]
        return self.get_paginated_response(data)

    @extend_schema(request=GoldSerializer, responses=OpenApiTypes.OBJECT)
    def create(self, request: Request) -> Response:
        serializer = GoldSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        candidate = get_object_or_404(Candidate, pk=serializer.validated_data["candidate"])
        try:
            gold = gold_mark(
                candidate=candidate,
                truth=serializer.validated_data["truth"],
                user=request.user,
                note=serializer.validated_data.get("note", ""),
            )
        except CandidateNotEligible as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        candidate.refresh_from_db()
        return Response(
            {**_candidate_dict(candidate), "truth": gold.truth}, status=status.HTTP_201_CREATED
        )

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        candidate = get_object_or_404(Candidate, pk=pk)
        if not GoldItem.objects.filter(candidate=candidate).exists():
            return Response({"detail": "not a gold item"}, status=status.HTTP_404_NOT_FOUND)
        gold_unmark(candidate=candidate, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdjudicateSerializer(serializers.Serializer):
    candidate = serializers.IntegerField()
    accept = serializers.BooleanField()
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


@extend_schema(tags=["quality"], parameters=[SYNSET_FILTER])
class EscalatedList(generics.ListAPIView):
    """Escalated candidates (the crowd could not decide them), most recent first, for
    adjudication."""

    pagination_class = Pagination
    serializer_class = ReviewCandidateSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return escalated_queryset(synset=_synset_filter(self.request))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([_candidate_dict(c) for c in page])


escalated_list = EscalatedList.as_view()


@extend_schema(tags=["quality"], request=AdjudicateSerializer, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
def adjudicate(request: Request) -> Response:
    """A curator decides a candidate; consensus never overrides it."""
    serializer = AdjudicateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    candidate = get_object_or_404(Candidate, pk=serializer.validated_data["candidate"])
    try:
        candidate = candidate_adjudicate(
            candidate=candidate,
            accept=serializer.validated_data["accept"],
            user=request.user,
            note=serializer.validated_data.get("note", ""),
        )
    except CandidateNotEligible as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return Response(_candidate_dict(candidate))


class ConsensusRunSerializer(serializers.Serializer):
    synsets = serializers.ListField(child=serializers.CharField(), required=False)
    force = serializers.BooleanField(required=False, default=False)
    workers = serializers.BooleanField(required=False, default=True)


@extend_schema(tags=["quality"], request=ConsensusRunSerializer, responses=JobSerializer)
@api_view(["POST"])
def consensus_run(request: Request) -> Response:
    """Start a `consensus` job (refit annotators, then synsets); follow it at /api/v1/jobs/{id}/."""
    serializer = ConsensusRunSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    wnids = []
    for ident in serializer.validated_data.get("synsets") or []:
        synset = synset_get(ident)
        if synset is None:
            return Response({"detail": f"unknown synset {ident!r}"}, status=400)
        wnids.append(synset.wnid)
    with transaction.atomic():
        job = consensus_job(
            wnids=wnids or None,
            workers=serializer.validated_data["workers"],
            force=serializer.validated_data["force"],
            created_by=request.user,
        )
        transaction.on_commit(lambda: dispatch_quietly(job))
    return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    tags=["quality"],
    responses={200: build_array_type(build_array_type(build_basic_type(OpenApiTypes.INT)))},
)
@api_view(["GET"])
def histogram(request: Request) -> Response:
    """Votes per automatic decision, overall: [[votes, candidates], ...]."""
    return Response(votes_per_decision_histogram())
