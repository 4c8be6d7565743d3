"""Crowd workers without accounts: signed links (AMT ExternalQuestion / Prolific style).

A curator makes one link per worker id of a Study. The link carries the worker id, platform,
study and the platform's assignment/session reference, and an expiry, all signed with the site's
secret (django.core.signing, a salt of its own): changing any of them breaks the signature, so a
link cannot be replayed for another worker id. Opening it signs the worker in as a passwordless
annotator bound to that id; the study's completion code appears after its tasks are done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from annotate.models import Annotator, Study, StudyParticipant
from annotate.services.annotators import annotator_external

WORKER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


class LinkError(Exception):
    """The link cannot admit anyone (tampered, expired, study closed, wrong worker)."""


def clean_worker_id(raw: Any) -> str:
    """A platform worker id: 1-128 letters, digits and _ . : @ - (starting alphanumeric, so it
    can never be read as a spreadsheet formula or smuggle markup)."""
    value = raw.strip() if isinstance(raw, str) else ""
    if not WORKER_ID_RE.match(value):
        raise ValueError(
            f"invalid worker id {str(raw)[:40]!r}: use 1-128 letters, digits and _ . : @ -, "
            "starting with a letter or digit"
        )
    return value


@transaction.atomic
def study_create(
    *,
    name: str,
    platform: str = Annotator.Platform.PROLIFIC,
    tasks_required: int = 5,
    return_url: str = "",
    link_hours: int = 72,
    created_by: Any = None,
) -> Study:
    if not name.strip():
        raise ValueError("a study needs a name")
    if platform not in {c for c, _ in Study._meta.get_field("platform").choices}:
        raise ValueError(f"unknown platform {platform!r}")
    if not 1 <= tasks_required <= 1000:
        raise ValueError("tasks_required must be between 1 and 1000")
    if not 1 <= link_hours <= 24 * 365:
        raise ValueError("link_hours must be between 1 and 8760")
    if return_url and not return_url.startswith(("https://", "http://")):
        raise ValueError("return_url must be an http(s) URL")
    return Study.objects.create(
        name=name.strip()[:200],
        platform=platform,
        tasks_required=tasks_required,
        return_url=return_url,
        link_hours=link_hours,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )


def link_token(
    *, study: Study, worker_id: str, external_ref: str = "", now: datetime | None = None
) -> str:
    worker = clean_worker_id(worker_id)
    expires = (now or timezone.now()) + timedelta(hours=study.link_hours)
    payload = {
        "w": worker,
        "p": study.platform,
        "s": study.pk,
        "r": str(external_ref)[:128],
        "e": int(expires.timestamp()),
    }
    return signing.dumps(payload, salt=settings.ANNOTATE_LINK_SALT, compress=True)


def link_path(token: str) -> str:
    return f"/annotate/join/{token}/"


@dataclass(frozen=True)
class Admission:
    annotator: Annotator
    study: Study
    participant: StudyParticipant


def link_open(
    *, token: str, claimed_worker: str | None = None, now: datetime | None = None
) -> Admission:
    """Check a link and admit its worker. `claimed_worker` is the worker id the platform appended
    (PROLIFIC_PID / workerId), which must be the signed one."""
    try:
        payload = signing.loads(token, salt=settings.ANNOTATE_LINK_SALT)
    except signing.BadSignature as exc:
        raise LinkError("This link is not valid: it was changed or cut short.") from exc
    if not isinstance(payload, dict) or not {"w", "p", "s", "e"} <= set(payload):
        raise LinkError("This link is not valid.")
    moment = now or timezone.now()
    if moment.timestamp() > float(payload["e"]):
        when = datetime.fromtimestamp(float(payload["e"]), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise LinkError(f"This link expired on {when}.")
    if claimed_worker is not None and claimed_worker.strip() != payload["w"]:
        raise LinkError("This link belongs to another worker id.")
    study = Study.objects.filter(pk=payload["s"]).first()
    if study is None or not study.active:
        raise LinkError("This study is closed.")
    annotator = annotator_external(platform=payload["p"], external_id=payload["w"])
    if annotator.status == Annotator.Status.BLOCKED:
        raise LinkError("This worker id cannot take part in this study.")
    participant, _ = StudyParticipant.objects.get_or_create(
        study=study, annotator=annotator, defaults={"external_ref": payload.get("r", "")}
    )
    return Admission(annotator=annotator, study=study, participant=participant)
