"""Curator quality pages under /curate/quality/: overview, per synset (policy, calibration table,
charts, candidates with gold marking), annotators (stats, speed vs gold accuracy, blocking),
escalations (adjudication), external studies (signed links) and votes import."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import BadRequest
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.models import Annotator, GoldItem, Study, SynsetConsensus
from annotate.selectors.quality import (
    annotator_detail,
    annotator_queryset,
    candidate_history,
    escalated_queryset,
    overall_summary,
    precision_series,
    review_queryset,
    synset_quality,
    synset_quality_rows,
    votes_per_decision_histogram,
    with_gold_truth,
)
from annotate.services.annotators import annotator_set_status
from annotate.services.consensus import consensus_job, consensus_update
from annotate.services.consensus.jobs import dispatch_quietly
from annotate.services.external import link_path, link_token, study_create
from annotate.services.gold import (
    CandidateNotEligible,
    candidate_adjudicate,
    gold_mark,
    gold_unmark,
)
from annotate.services.votes_import import VotesImportError, votes_import
from annotate.views.charts import bar_chart, line_chart, scatter_chart
from curation.models import Candidate, Job
from curation.permissions import curator_required
from curation.selectors.synsets import synset_get


def _back(request: HttpRequest, default: str = "/curate/quality/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    return target if target.startswith("/curate/quality/") else default


def _histogram_chart(pairs: list[tuple[int, int]], title: str) -> Any:
    return bar_chart(
        [(str(v), n) for v, n in pairs], title=title, x_label="votes", y_label="candidates"
    )


def _precision_chart(series: list[Any], title: str) -> Any:
    return line_chart(
        [(s.created_at, s.precision_estimate) for s in series],
        title=title,
        x_label="time",
        y_label="estimated precision",
        hi=1.0,
        target=settings.ANNOTATE_TARGET_PRECISION,
    )


@curator_required
def overview(request: HttpRequest) -> HttpResponse:
    summary = overall_summary()
    rows = synset_quality_rows(q=request.GET.get("q", "")[:200])
    return render(
        request,
        "annotate/quality/overview.html",
        {
            "summary": summary,
            "rows": rows,
            "q": request.GET.get("q", ""),
            "histogram": _histogram_chart(
                votes_per_decision_histogram(), "Votes per automatic decision, all synsets"
            ),
            "precision": _precision_chart(
                precision_series(None), "Estimated precision of accepted candidates over time"
            ),
            "jobs": Job.objects.filter(kind="consensus")[:3],
        },
    )


@curator_required
@require_POST
def recompute(request: HttpRequest) -> HttpResponse:
    wnid = request.POST.get("synset", "").strip()
    wnids = [wnid] if wnid else None
    with transaction.atomic():
        job = consensus_job(
            wnids=wnids, force=request.POST.get("force") == "on", created_by=request.user
        )
        transaction.on_commit(lambda: dispatch_quietly(job))
    messages.success(request, f"Consensus job #{job.pk} queued.")
    return redirect(_back(request))


CHART_ANNOTATORS = 5000
REVIEW_PAGE_SIZE = 96  # candidate thumbnails per page (a grid of 8 or 12 columns)


def _candidate_page(request: HttpRequest, queryset: Any) -> dict[str, Any]:
    """A page of candidates (with their gold truth) and the page itself for the pager."""
    page: Page = Paginator(queryset, REVIEW_PAGE_SIZE).get_page(request.GET.get("page"))
    return {"candidates": with_gold_truth(page.object_list), "page": page}


@curator_required
def synset_page(request: HttpRequest, wnid: str) -> HttpResponse:
    synset = synset_get(wnid)
    if synset is None:
        raise Http404(f"no synset {wnid}")
    if request.method == "POST":
        _save_policy(request, synset)
        return redirect(f"/curate/quality/synsets/{synset.wnid}/")
    data = synset_quality(synset)
    state = request.GET.get("state") or None
    if state and state not in Candidate.State.values:
        state = None
    consensus = data["consensus"]
    table = consensus.table if consensus and consensus.table else []
    return render(
        request,
        "annotate/quality/synset.html",
        {
            **data,
            "methods": SynsetConsensus.Method.choices,
            "state": state,
            "states": Candidate.State.values,
            **_candidate_page(request, review_queryset(synset=synset, state=state)),
            "table_rows": [(y, row) for y, row in enumerate(table)],
            "histogram_chart": _histogram_chart(data["histogram"], "Votes per automatic decision"),
            "precision_chart": _precision_chart(data["series"], "Estimated precision over time"),
            "jobs": Job.objects.filter(kind="consensus")[:1],
        },
    )


def _save_policy(request: HttpRequest, synset: Any) -> None:
    method = request.POST.get("method", "")
    if method not in ("", *SynsetConsensus.Method.values):
        messages.error(request, f"unknown method {method!r}")
        return
    try:
        k = int(request.POST.get("majority_votes") or 3)
        raw = request.POST.get("threshold_override", "").strip()
        override = float(raw) if raw else None
    except ValueError:
        messages.error(request, "votes and threshold must be numbers")
        return
    if not 1 <= k <= 25:
        messages.error(request, "majority votes must be between 1 and 25")
        return
    if override is not None and not 0.5 < override < 1.0:
        messages.error(request, "the accept threshold must be between 0.5 and 1 (exclusive)")
        return
    with transaction.atomic():
        row, _ = SynsetConsensus.objects.get_or_create(synset=synset)
        row.method, row.majority_votes, row.threshold_override = method, k, override
        row.save()
        changes = consensus_update(
            candidate_ids=list(Candidate.objects.filter(synset=synset).values_list("pk", flat=True))
        )
    messages.success(
        request,
        f"Policy saved; {changes.get('accepted', 0)} accepted, {changes.get('rejected', 0)} "
        f"rejected, {changes.get('reopened', 0)} reopened by the change.",
    )


def _candidate(request: HttpRequest) -> Candidate:
    try:
        return get_object_or_404(Candidate, pk=int(request.POST.get("candidate", "")))
    except ValueError as exc:
        raise BadRequest("candidate must be an id") from exc


@curator_required
@require_POST
def gold_set(request: HttpRequest) -> HttpResponse:
    candidate = _candidate(request)
    truth = request.POST.get("truth")
    try:
        if truth == "remove":
            gold_unmark(candidate=candidate, user=request.user)
            messages.success(request, f"Candidate {candidate.pk} is no longer gold.")
        elif truth in ("yes", "no"):
            gold_mark(candidate=candidate, truth=truth == "yes", user=request.user)
            messages.success(request, f"Candidate {candidate.pk} is gold: {truth}.")
        else:
            raise BadRequest("truth must be yes, no or remove")
    except CandidateNotEligible as exc:
        messages.error(request, str(exc))
    return redirect(_back(request))


@curator_required
@require_POST
def adjudicate(request: HttpRequest) -> HttpResponse:
    candidate = _candidate(request)
    decision = request.POST.get("decision")
    if decision not in ("accept", "reject"):
        raise BadRequest("decision must be accept or reject")
    try:
        candidate_adjudicate(
            candidate=candidate,
            accept=decision == "accept",
            user=request.user,
            note=request.POST.get("note", "")[:500],
        )
        messages.success(request, f"Candidate {candidate.pk}: {decision}ed.")
    except CandidateNotEligible as exc:
        messages.error(request, str(exc))
    return redirect(_back(request, "/curate/quality/escalated/"))


@curator_required
def escalated_page(request: HttpRequest) -> HttpResponse:
    synset = synset_get(request.GET["synset"]) if request.GET.get("synset") else None
    return render(
        request,
        "annotate/quality/escalated.html",
        {**_candidate_page(request, escalated_queryset(synset=synset)), "synset": synset},
    )


@curator_required
def candidate_page(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = get_object_or_404(Candidate.objects.select_related("image", "synset"), pk=pk)
    return render(
        request,
        "annotate/quality/candidate.html",
        {
            "candidate": candidate,
            "decisions": candidate_history(candidate),
            "votes": candidate.votes.select_related("annotator__user").order_by("id")[:200],
            "gold": GoldItem.objects.filter(candidate=candidate).first(),
        },
    )


@curator_required
def annotators_page(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    annotators = annotator_queryset(status=status, order=request.GET.get("order", "-votes_count"))
    page = Paginator(annotators, 100).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    points = [
        {
            "x": (a.median_ms or 0) / 1000.0 if a.median_ms else None,
            "y": a.gold_accuracy,
            "label": f"{a.label}: {((a.median_ms or 0) / 1000):.1f} s/image, gold "
            f"{a.gold_correct}/{a.gold_answers}",
            "cls": a.status,
        }
        # The chart shows the whole crowd (up to CHART_ANNOTATORS), the table a page of it.
        for a in annotators[:CHART_ANNOTATORS]
    ]
    return render(
        request,
        "annotate/quality/annotators.html",
        {
            "rows": rows,
            "page": page,
            "total": page.paginator.count,
            "status": status,
            "statuses": Annotator.Status.choices,
            "scatter": scatter_chart(
                points,
                title="Annotators: seconds per image vs accuracy on gold",
                x_label="median seconds per image",
                y_label="gold accuracy",
                floor=settings.ANNOTATE_GOLD_FLOOR,
            ),
            "floor": settings.ANNOTATE_GOLD_FLOOR,
            "min_answers": settings.ANNOTATE_GOLD_MIN_ANSWERS,
            "confidence": settings.ANNOTATE_GOLD_CONFIDENCE,
        },
    )


@curator_required
def annotator_page(request: HttpRequest, pk: int) -> HttpResponse:
    annotator = get_object_or_404(Annotator.objects.select_related("user"), pk=pk)
    return render(request, "annotate/quality/annotator.html", annotator_detail(annotator))


@curator_required
@require_POST
def annotator_status(request: HttpRequest, pk: int) -> HttpResponse:
    annotator = get_object_or_404(Annotator, pk=pk)
    status = request.POST.get("status", "")
    if status not in Annotator.Status.values:
        raise BadRequest("unknown status")
    touched = annotator_set_status(
        annotator=annotator,
        status=status,
        reason=request.POST.get("reason", "")[:300] or f"set by {request.user}",
        by=request.user,
    )
    messages.success(
        request, f"{annotator.label} is now {status}; {len(touched)} candidates re-decided."
    )
    return redirect(_back(request, f"/curate/quality/annotators/{pk}/"))


@curator_required
def studies_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            study = study_create(
                name=request.POST.get("name", ""),
                platform=request.POST.get("platform", "prolific"),
                tasks_required=int(request.POST.get("tasks_required") or 5),
                return_url=request.POST.get("return_url", "").strip(),
                link_hours=int(request.POST.get("link_hours") or 72),
                created_by=request.user,
            )
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            return redirect(f"/curate/quality/studies/{study.pk}/")
    return render(
        request,
        "annotate/quality/studies.html",
        {
            "studies": Study.objects.all()[:200],
            "platforms": Study._meta.get_field("platform").choices,
        },
    )


@curator_required
def study_page(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    links: list[dict[str, str]] = []
    problems: list[str] = []
    if request.method == "POST":
        base = request.build_absolute_uri("/").rstrip("/")
        for raw in request.POST.get("workers", "").split()[:10_000]:
            try:
                links.append(
                    {"worker": raw, "url": base + link_path(link_token(study=study, worker_id=raw))}
                )
            except ValueError as exc:
                problems.append(str(exc))
        if request.POST.get("format") == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["worker", "url"])
            for link in links:
                writer.writerow([link["worker"], link["url"]])
            response = HttpResponse(buffer.getvalue(), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-links.csv"'
            return response
    return render(
        request,
        "annotate/quality/study.html",
        {
            "study": study,
            "links": links,
            "problems": problems,
            "participants": study.participants.select_related("annotator")[:500],
        },
    )


@curator_required
def import_page(request: HttpRequest) -> HttpResponse:
    report = None
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "Choose a CSV file to import.")
        else:
            try:
                with upload.open("rb") as stream:
                    report = votes_import(
                        stream=stream, synset=request.POST.get("synset", "").strip() or None
                    )
            except VotesImportError as exc:
                messages.error(request, f"{exc}; nothing was imported.")
    return render(request, "annotate/quality/import.html", {"report": report})
