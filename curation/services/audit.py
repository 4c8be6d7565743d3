"""Recording curator actions. Call inside the action's transaction so both commit or neither."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from config.logging import request_id_var
from curation.models.audit import AuditEvent


def audit_record(
    *,
    actor: Any,
    action: str,
    target: Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    summary: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    user = actor if getattr(actor, "pk", None) else None
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
    return AuditEvent.objects.create(
        actor=user,
        actor_name=getattr(user, "username", "") or "system",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        summary=summary[:500],
        details=details or {},
        request_id=request_id_var.get(),
    )
