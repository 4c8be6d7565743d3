"""The audit log, for curators."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from curation.models import AuditEvent
from curation.permissions import curator_required


@curator_required
def audit_list(request: HttpRequest) -> HttpResponse:
    qs = AuditEvent.objects.select_related("actor")
    action = request.GET.get("action", "").strip()
    actor = request.GET.get("actor", "").strip()
    if action:
        qs = qs.filter(action__startswith=action)
    if actor:
        qs = qs.filter(actor_name=actor)
    page = Paginator(qs, 100).get_page(request.GET.get("page"))
    actions = AuditEvent.objects.order_by().values_list("action", flat=True).distinct()
    return render(
        request,
        "curation/audit_list.html",
        {"page": page, "action": action, "actor": actor, "actions": sorted(set(actions))},
    )
