"""The annotator's world: /annotate/ (a task grid), its no-JavaScript submit, and signed links."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.api.tasks import SESSION_STUDY
from annotate.models import Annotator, Study, StudyParticipant
from annotate.selectors.tasks import task_payload
from annotate.services.annotators import AnnotatorBlocked, annotator_for_user
from annotate.services.assignment import TaskNotFound, task_for, task_next
from annotate.services.external import LinkError, link_open
from annotate.services.submit import (
    Answer,
    SubmitConflict,
    SubmitError,
    annotator_progress,
    task_submit,
)
from curation.permissions import annotator_required


def _study(request: HttpRequest) -> Study | None:
    study_id = request.session.get(SESSION_STUDY)
    return Study.objects.filter(pk=study_id).first() if study_id else None


@annotator_required
def annotate_home(request: HttpRequest) -> HttpResponse:
    annotator = annotator_for_user(request.user)
    study = _study(request)
    context: dict = {"annotator": annotator, "study": study, "task": None, "blocked": False}
    try:
        task = task_next(annotator=annotator, study=study)
    except AnnotatorBlocked:
        context["blocked"] = True
        task = None
    if task is not None:
        context["task"] = task_payload(task)
        context["client_token"] = uuid.uuid4().hex
    context["progress"] = annotator_progress(annotator=annotator)
    if study is not None:
        participant = StudyParticipant.objects.filter(study=study, annotator=annotator).first()
        if participant and participant.completed_at:
            context["completion"] = {"code": study.completion_code, "return_url": study.return_link}
    return render(request, "annotate/home.html", context)


@annotator_required
@require_POST
def task_submit_form(request: HttpRequest, token: str) -> HttpResponse:
    """The grid works without JavaScript: checked boxes are "shows it", the rest "does not"."""
    annotator = annotator_for_user(request.user)
    try:
        task = task_for(annotator=annotator, token=token)
    except TaskNotFound:
        messages.error(request, "That task is not yours or no longer exists.")
        return redirect("/annotate/")
    checked = set(request.POST.getlist("shows"))
    tokens = list(task.items.values_list("token", flat=True))
    answers = [Answer(item=t, shows=t in checked) for t in tokens]
    try:
        reply = task_submit(
            annotator=annotator,
            token=token,
            client_token=request.POST.get("client_token", ""),
            answers=answers,
        )
    except (SubmitError, SubmitConflict) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Saved {reply['recorded']} answers. Thank you!")
    return redirect("/annotate/")


@require_GET
def join(request: HttpRequest, token: str) -> HttpResponse:
    """A crowd worker's signed link: sign them in as their worker id, for this study."""
    if request.GET.get("assignmentId") == "ASSIGNMENT_ID_NOT_AVAILABLE":
        return render(request, "annotate/join_preview.html", {})
    claimed = request.GET.get("PROLIFIC_PID") or request.GET.get("workerId")
    try:
        admission = link_open(token=token, claimed_worker=claimed)
    except LinkError as exc:
        return render(request, "annotate/join_error.html", {"reason": str(exc)}, status=403)
    annotator: Annotator = admission.annotator
    if request.user.is_authenticated and request.user.pk != annotator.user_id:
        logout(request)  # a session is bound to one worker id
    if not request.user.is_authenticated:
        login(request, annotator.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_STUDY] = admission.study.pk
    return redirect("/annotate/")
