"""Who may reach what: every URL pattern of the site x every role, in one table.

The table is keyed by the URL pattern as Django sees it (prefixes concatenated). A pattern that
is not in the table fails the test, so a new endpoint needs one line here: its key, the method
to try, the URL (kwargs filled from the `world` fixture) and the status for each role in the
order (anonymous, annotator, crowd worker, curator, admin). Admin-site models are one line each
in ADMIN_MODELS. Set MATRIX_PRINT=1 to print the observed statuses.

Roles: anonymous; an annotator (account in the annotator group); an external crowd worker who
came in through a signed study link; a curator; a superuser ("admin").
"""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token

from annotate.models import Annotator, Vote
from annotate.services.annotators import annotator_for_user
from annotate.services.assignment import task_next
from annotate.services.external import link_path, link_token, study_create
from annotate.services.gold import gold_mark
from annotate.services.queue import queue_sync
from annotate.services.sample import sample_candidates
from annotate.services.submit import Answer, task_submit
from curation.models import Candidate, Image, ImageOrigin, IngestItem, Job
from curation.services.jobs import job_create, job_run_inline
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db]

ROLES = ("anonymous", "annotator", "crowd", "curator", "admin")
BIRD, INSECT = "n01503061", "n02159955"

# Status profiles, in ROLES order.
PUBLIC = (200, 200, 200, 200, 200)
PAGE = (302, 403, 403, 200, 200)  # curator HTML page: anonymous go to the login page
PAGE_POST = (302, 403, 403, 405, 405)  # curator form endpoint tried with GET
API = (401, 403, 403, 200, 200)  # curator API (401: token auth is tried first)
API_POST = (401, 403, 403, 405, 405)
SIGNED_IN_API = (401, 200, 200, 200, 200)
WORK_API = (401, 200, 200, 200, 200)  # the annotator API (curators may annotate too)
LOGGED_IN = (302, 200, 200, 200, 200)
ADMIN_PAGE = (302, 403, 403, 200, 200)

# key -> (method, url, statuses). URLs are format strings over the `world` fixture.
TABLE: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "": ("GET", "/", (302, 302, 302, 302, 302)),  # home sends each role to its world
    "accounts/login/": ("GET", "/accounts/login/", PUBLIC),
    "accounts/logout/": ("GET", "/accounts/logout/", (405,) * 5),  # POST only
    "healthz": ("GET", "/healthz", PUBLIC),
    "metrics": ("GET", "/metrics", (403, 403, 403, 200, 200)),  # or with METRICS_TOKEN
    "^i/(?P<sha256>[0-9a-f]{64})/thumb$": ("GET", "/i/{sha}/thumb", LOGGED_IN),
    "^i/(?P<sha256>[0-9a-f]{64})/original$": ("GET", "/i/{sha}/original", LOGGED_IN),
    # Curator pages.
    "curate/": ("GET", "/curate/", PAGE),
    "curate/synsets/": ("GET", "/curate/synsets/", PAGE),
    "curate/synsets/activate/": ("GET", "/curate/synsets/activate/", PAGE_POST),
    "curate/synsets/import-wordnet/": ("GET", "/curate/synsets/import-wordnet/", PAGE_POST),
    "curate/synsets/<str:wnid>/": ("GET", "/curate/synsets/{wnid}/", PAGE),
    "curate/audit/": ("GET", "/curate/audit/", PAGE),
    "curate/synsets/<str:wnid>/candidates/": ("GET", "/curate/synsets/{wnid}/candidates/", PAGE),
    "curate/^synsets/(?P<wnid>[^/]+)/queries/?$": ("GET", "/curate/synsets/{wnid}/queries", PAGE),
    "curate/queries.csv": ("GET", "/curate/queries.csv", PAGE),
    "curate/images/<int:pk>/": ("GET", "/curate/images/{image}/", PAGE),
    "curate/ingest/": ("GET", "/curate/ingest/", PAGE),
    "curate/ingest/upload/": ("GET", "/curate/ingest/upload/", PAGE_POST),
    "curate/ingest/start/": ("GET", "/curate/ingest/start/", PAGE_POST),
    "curate/ingest/<int:pk>/": ("GET", "/curate/ingest/{ingest_job}/", PAGE),
    "curate/ingest/<int:pk>/errors.csv": ("GET", "/curate/ingest/{ingest_job}/errors.csv", PAGE),
    "curate/jobs/": ("GET", "/curate/jobs/", PAGE),
    "curate/jobs/<int:pk>/": ("GET", "/curate/jobs/{job}/", PAGE),
    "curate/jobs/<int:pk>/cancel/": ("GET", "/curate/jobs/{job}/cancel/", PAGE_POST),
    "curate/quality/": ("GET", "/curate/quality/", PAGE),
    "curate/quality/recompute/": ("GET", "/curate/quality/recompute/", PAGE_POST),
    "curate/quality/synsets/<str:wnid>/": ("GET", "/curate/quality/synsets/{wnid}/", PAGE),
    "curate/quality/candidates/<int:pk>/": ("GET", "/curate/quality/candidates/{cand}/", PAGE),
    "curate/quality/gold/": ("GET", "/curate/quality/gold/", PAGE_POST),
    "curate/quality/adjudicate/": ("GET", "/curate/quality/adjudicate/", PAGE_POST),
    "curate/quality/escalated/": ("GET", "/curate/quality/escalated/", PAGE),
    "curate/quality/annotators/": ("GET", "/curate/quality/annotators/", PAGE),
    "curate/quality/annotators/<int:pk>/": ("GET", "/curate/quality/annotators/{ann}/", PAGE),
    "curate/quality/annotators/<int:pk>/status/": (
        "GET",
        "/curate/quality/annotators/{ann}/status/",
        PAGE_POST,
    ),
    "curate/quality/studies/": ("GET", "/curate/quality/studies/", PAGE),
    "curate/quality/studies/<int:pk>/": ("GET", "/curate/quality/studies/{study}/", PAGE),
    "curate/quality/import/": ("GET", "/curate/quality/import/", PAGE),
    # The annotator's world.
    "annotate/": ("GET", "/annotate/", LOGGED_IN),
    "annotate/tasks/<str:token>/submit": (
        "GET",
        "/annotate/tasks/{task}/submit",
        (302, 405, 405, 405, 405),
    ),
    "annotate/join/<str:token>/": ("GET", "/annotate/join/{join}/", (302,) * 5),
    # API: curators.
    "api/v1/": ("GET", "/api/v1/", API),
    "api/v1/^synsets/?$": ("GET", "/api/v1/synsets?q=dog", API),
    "api/v1/^synsets/activate/?$": ("GET", "/api/v1/synsets/activate/", API_POST),
    "api/v1/^synsets/import-wordnet/?$": ("GET", "/api/v1/synsets/import-wordnet", API_POST),
    "api/v1/^synsets/(?P<wnid>n\\d{8})/?$": ("GET", "/api/v1/synsets/{wnid}", API),
    "api/v1/^synsets/(?P<wnid>n\\d{8})/activate/?$": (
        "GET",
        "/api/v1/synsets/{wnid}/activate",
        API_POST,
    ),
    "api/v1/^synsets/(?P<wnid>n\\d{8})/queries/?$": ("GET", "/api/v1/synsets/{wnid}/queries", API),
    "api/v1/^jobs/?$": ("GET", "/api/v1/jobs/", API),
    "api/v1/^jobs/(?P<pk>[^/.]+)/?$": ("GET", "/api/v1/jobs/{job}", API),
    "api/v1/^jobs/(?P<pk>[^/.]+)/cancel/?$": ("GET", "/api/v1/jobs/{job}/cancel", API_POST),
    "api/v1/^imports/?$": ("GET", "/api/v1/imports", API),
    "api/v1/^imports/(?P<pk>[^/.]+)/?$": ("GET", "/api/v1/imports/{ingest_job}/", API),
    "api/v1/^imports/(?P<pk>[^/.]+)/errors/?$": (
        "GET",
        "/api/v1/imports/{ingest_job}/errors",
        API,
    ),
    "api/v1/^imports/(?P<pk>[^/.]+)/report.csv/?$": (
        "GET",
        "/api/v1/imports/{ingest_job}/report.csv",
        API,
    ),
    "api/v1/^images/?$": ("GET", "/api/v1/images", API),
    "api/v1/^images/(?P<pk>[^/.]+)/?$": ("GET", "/api/v1/images/{image}", API),
    "api/v1/^candidates/?$": ("GET", "/api/v1/candidates?synset={wnid}", API),
    "api/v1/^candidates/(?P<pk>[^/.]+)/?$": ("GET", "/api/v1/candidates/{cand}", API),
    "api/v1/^votes/import/?$": ("GET", "/api/v1/votes/import", API_POST),
    "api/v1/^quality/escalated/?$": ("GET", "/api/v1/quality/escalated", API),
    "api/v1/^quality/adjudicate/?$": ("GET", "/api/v1/quality/adjudicate", API_POST),
    "api/v1/^quality/consensus/?$": ("GET", "/api/v1/quality/consensus", API_POST),
    "api/v1/^quality/histogram/?$": ("GET", "/api/v1/quality/histogram", API),
    "api/v1/^quality/synsets/?$": ("GET", "/api/v1/quality/synsets", API),
    "api/v1/^quality/synsets/(?P<wnid>[^/]+)/?$": ("GET", "/api/v1/quality/synsets/{wnid}", API),
    "api/v1/^quality/annotators/?$": ("GET", "/api/v1/quality/annotators", API),
    "api/v1/^quality/annotators/(?P<pk>[^/.]+)/?$": (
        "GET",
        "/api/v1/quality/annotators/{ann}",
        API,
    ),
    "api/v1/^quality/annotators/(?P<pk>[^/.]+)/block/?$": (
        "GET",
        "/api/v1/quality/annotators/{ann}/block",
        API_POST,
    ),
    "api/v1/^quality/annotators/(?P<pk>[^/.]+)/flag/?$": (
        "GET",
        "/api/v1/quality/annotators/{ann}/flag",
        API_POST,
    ),
    "api/v1/^quality/annotators/(?P<pk>[^/.]+)/unblock/?$": (
        "GET",
        "/api/v1/quality/annotators/{ann}/unblock",
        API_POST,
    ),
    "api/v1/^quality/gold/?$": ("GET", "/api/v1/quality/gold", API),
    "api/v1/^quality/gold/(?P<pk>\\d+)/?$": ("GET", "/api/v1/quality/gold/{gold}", API_POST),
    "api/v1/^quality/studies/?$": ("GET", "/api/v1/quality/studies", API),
    "api/v1/^quality/studies/(?P<pk>[^/.]+)/?$": ("GET", "/api/v1/quality/studies/{study}", API),
    "api/v1/^quality/studies/(?P<pk>[^/.]+)/links/?$": (
        "GET",
        "/api/v1/quality/studies/{study}/links",
        API_POST,
    ),
    # API: annotators (and crowd workers) — their own work only.
    "api/v1/^annotate/next-task/?$": ("GET", "/api/v1/annotate/next-task", WORK_API),
    "api/v1/^annotate/me/?$": ("GET", "/api/v1/annotate/me", WORK_API),
    "api/v1/^annotate/tasks/(?P<token>[^/]+)/submit/?$": (
        "GET",
        "/api/v1/annotate/tasks/{task}/submit",
        (401, 405, 405, 405, 405),
    ),
    "api/v1/^annotate/tasks/(?P<token>[^/]+)/heartbeat/?$": (
        "GET",
        "/api/v1/annotate/tasks/{task}/heartbeat",
        (401, 405, 405, 405, 405),
    ),
    "api/schema/": ("GET", "/api/schema/", SIGNED_IN_API),
    "api/docs/": ("GET", "/api/docs/", SIGNED_IN_API),
    # Admin site (models: ADMIN_MODELS below).
    "admin/": ("GET", "/admin/", ADMIN_PAGE),
    "admin/login/": ("GET", "/admin/login/", (200, 403, 403, 302, 302)),
    "admin/logout/": ("GET", "/admin/logout/", (302, 403, 403, 405, 405)),
    "admin/password_change/": ("GET", "/admin/password_change/", ADMIN_PAGE),
    "admin/password_change/done/": ("GET", "/admin/password_change/done/", ADMIN_PAGE),
    "admin/autocomplete/": ("GET", "/admin/autocomplete/", (302, 403, 403, 403, 403)),
    "admin/jsi18n/": ("GET", "/admin/jsi18n/", ADMIN_PAGE),
    "admin/r/<path:content_type_id>/<path:object_id>/": (
        "GET",
        "/admin/r/{ct}/{wnid_pk}/",
        (302, 403, 403, 404, 404),  # Synset has no get_absolute_url
    ),
    "admin/^(?P<app_label>auth|authtoken|axes|curation|annotate)/$": (
        "GET",
        "/admin/curation/",
        ADMIN_PAGE,
    ),
    "admin/auth/user/<id>/password/": (
        "GET",
        "/admin/auth/user/{user}/password/",
        (302, 403, 403, 403, 200),
    ),
    "admin/(?P<url>.*)$": ("GET", "/admin/no/such/page/", (302, 403, 403, 404, 404)),
}

# Rows for the endpoints of the parallel branches (pre-labelling, dedup, exports, training) that
# are on main but not on this branch: written before the merge from their URL patterns and the
# house conventions, then checked against a snapshot of main (05:40 UTC): all pass there. After
# the merge, empty AWAITING_MERGE (MATRIX_PRINT=1 prints what each role got).
MERGE_ROWS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "api/v1/^duplicates/?$": ("GET", "/api/v1/duplicates", API),
    "api/v1/^duplicates/(?P<pk>[^/.]+)/?$": ("GET", "/api/v1/duplicates/{dup}", API),
    "api/v1/^duplicates/(?P<pk>[^/.]+)/confirm/?$": (
        "GET",
        "/api/v1/duplicates/{dup}/confirm",
        API_POST,
    ),
    "api/v1/^duplicates/(?P<pk>[^/.]+)/representative/?$": (
        "GET",
        "/api/v1/duplicates/{dup}/representative",
        API_POST,
    ),
    "api/v1/^duplicates/(?P<pk>[^/.]+)/split/?$": (
        "GET",
        "/api/v1/duplicates/{dup}/split",
        API_POST,
    ),
    "api/v1/^exports/?$": ("GET", "/api/v1/exports", API),
    "api/v1/^exports/preview/?$": ("GET", "/api/v1/exports/preview", API_POST),
    "api/v1/exports/<slug:name>/": ("GET", "/api/v1/exports/{export}/", API),
    "api/v1/exports/<slug:name>/download/<str:file>": (
        "GET",
        "/api/v1/exports/{export}/download/dataset.json",
        (401, 403, 403, 404, 404),  # the fixture's version has no files
    ),
    "api/v1/^models/?$": ("GET", "/api/v1/models", API),
    "api/v1/^models/(?P<pk>[0-9]{1,18})/?$": ("GET", "/api/v1/models/{model}", API),
    "api/v1/^models/(?P<pk>[0-9]{1,18})/activate/?$": (
        "GET",
        "/api/v1/models/{model}/activate",
        API_POST,
    ),
    "api/v1/^prelabel/?$": ("GET", "/api/v1/prelabel", API_POST),
    "api/v1/^synsets/(?P<wnid>n\\d{8})/auto-reject/?$": (
        "GET",
        "/api/v1/synsets/{wnid}/auto-reject",
        API,
    ),
    "api/v1/^training-runs/?$": ("GET", "/api/v1/training-runs", API),
    "api/v1/^training-runs/(?P<pk>[^/.]+)/?$": ("GET", "/api/v1/training-runs/{run}", API),
    "api/v1/^training-runs/(?P<pk>[^/.]+)/cancel/?$": (
        "GET",
        "/api/v1/training-runs/{run}/cancel",
        API_POST,
    ),
    "api/v1/^training-runs/(?P<pk>[^/.]+)/register/?$": (
        "GET",
        "/api/v1/training-runs/{run}/register",
        API_POST,
    ),
    "curate/duplicates/": ("GET", "/curate/duplicates/", PAGE),
    "curate/duplicates/start/": ("GET", "/curate/duplicates/start/", PAGE_POST),
    "curate/^duplicates/(?P<pk>[0-9]+)/(?P<action>confirm|split|representative)/$": (
        "GET",
        "/curate/duplicates/{dup}/confirm/",
        PAGE_POST,
    ),
    "curate/^runs/(?P<pk>\\d+)/examples/(?P<sha256>[0-9a-f]{64})$": (
        "GET",
        "/curate/runs/{run}/examples/{sha}",
        (302, 403, 403, 404, 404),  # the fixture's run has no example images
    ),
    "curate/exports/": ("GET", "/curate/exports/", PAGE),
    "curate/exports/new": ("GET", "/curate/exports/new", PAGE),
    "curate/exports/new/": ("GET", "/curate/exports/new/", PAGE),
    "curate/exports/preview/": ("GET", "/curate/exports/preview/", PAGE_POST),
    "curate/exports/<slug:name>/": ("GET", "/curate/exports/{export}/", PAGE),
    "curate/exports/<slug:name>/download/<str:file>": (
        "GET",
        "/curate/exports/{export}/download/dataset.json",
        (302, 403, 403, 404, 404),
    ),
    "curate/exports/<slug:name>/train/": ("GET", "/curate/exports/{export}/train/", PAGE_POST),
    "curate/models/": ("GET", "/curate/models/", PAGE),
    "curate/models/<int:pk>/activate/": ("GET", "/curate/models/{model}/activate/", PAGE_POST),
    "curate/prelabel/": ("GET", "/curate/prelabel/", PAGE_POST),
    "curate/runs/": ("GET", "/curate/runs/", PAGE),
    "curate/runs/<int:pk>/": ("GET", "/curate/runs/{run}/", PAGE),
    "curate/runs/<int:pk>/cancel/": ("GET", "/curate/runs/{run}/cancel/", PAGE_POST),
    "curate/runs/<int:pk>/live/": ("GET", "/curate/runs/{run}/live/", PAGE),
    "curate/runs/<int:pk>/register/": ("GET", "/curate/runs/{run}/register/", PAGE_POST),
    "curate/synsets/<str:wnid>/auto-reject/": (
        "GET",
        "/curate/synsets/{wnid}/auto-reject/",
        PAGE_POST,
    ),
}
TABLE.update(MERGE_ROWS)
AWAITING_MERGE: set[str] = set()  # merged: every row must match a pattern

# Admin-site models: label -> which of their pages a curator / a superuser reaches:
# c = changelist, a = add, v = change (view) and history, d = delete.
FULL, NO_ADD_DELETE = "cavd/cavd", "cv/cv"  # catalogue and vote/decision history
ADMIN_MODELS: dict[str, str] = {
    "auth.group": "/cavd",
    "auth.user": "/cavd",
    "authtoken.tokenproxy": "/cavd",
    "axes.accessattempt": "/cvd",
    "axes.accesslog": "/cvd",
    "axes.accessfailurelog": "/cvd",
    "curation.synset": NO_ADD_DELETE,
    "curation.synsetedge": NO_ADD_DELETE,
    "curation.job": FULL,
    "curation.jobchunk": FULL,
    "curation.image": FULL,
    "curation.imageorigin": FULL,
    "curation.candidate": FULL,
    "curation.ingestitem": FULL,
    "annotate.golditem": FULL,
    "annotate.annotator": FULL,
    "annotate.vote": NO_ADD_DELETE,
    "annotate.decision": NO_ADD_DELETE,
    "annotate.assignment": FULL,
    "annotate.synsetconsensus": FULL,
    "annotate.study": FULL,
    "annotate.studyparticipant": FULL,
    "annotate.qualitysnapshot": FULL,
}
# Rows whose request changes the session (sign-in by link, logout): tried with fresh clients.
SESSION_CHANGING = {"annotate/join/<str:token>/", "admin/logout/", "accounts/logout/"}


def _admin_rows(world: dict[str, Any]) -> dict[str, tuple[str, str, tuple[int, ...]]]:
    rows: dict[str, tuple[str, str, tuple[int, ...]]] = {}
    for model in admin.site._registry:
        label = model._meta.label_lower
        if label not in ADMIN_MODELS:
            continue  # reported as a missing pattern
        app, name = label.split(".")
        base = f"admin/{app}/{name}/"
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"the world fixture has no {label} for the admin rows"
        url = f"/admin/{app}/{name}/"
        curator_may, admin_may = ADMIN_MODELS[label].split("/")

        def statuses(letter: str, cur_may: str = curator_may, adm_may: str = admin_may):  # type: ignore[no-untyped-def]
            cur = 200 if letter in cur_may else 403
            return (302, 403, 403, cur, 200 if letter in adm_may else 403)

        rows[base] = ("GET", url, statuses("c"))
        rows[base + "add/"] = ("GET", url + "add/", statuses("a"))
        rows[base + "<path:object_id>/history/"] = ("GET", f"{url}{obj.pk}/history/", statuses("v"))
        rows[base + "<path:object_id>/delete/"] = ("GET", f"{url}{obj.pk}/delete/", statuses("d"))
        rows[base + "<path:object_id>/change/"] = ("GET", f"{url}{obj.pk}/change/", statuses("v"))
        # The bare object URL redirects to its change page (for anyone the admin admits).
        rows[base + "<path:object_id>/"] = ("GET", f"{url}{obj.pk}/", (302, 403, 403, 302, 302))
    return rows


def url_patterns() -> list[str]:
    """Every URL pattern of the site, as its prefixes and its own pattern concatenated."""

    def walk(patterns: list[Any], prefix: str) -> list[str]:
        out: list[str] = []
        for p in patterns:
            if isinstance(p, URLResolver):
                out += walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                out.append(prefix + str(p.pattern))
        return out

    return walk(get_resolver().url_patterns, "")


@dataclass
class World:
    clients: dict[str, Client]
    values: dict[str, Any]
    annotator: User
    other: User
    make_clients: Any


@pytest.fixture
def world(db, settings, tmp_path) -> World:  # type: ignore[no-untyped-def]
    """One of everything, and a signed-in client per role."""
    settings.ANNOTATE_TASK_SIZE = 6
    settings.ANNOTATE_GOLD_FRACTION = 0.0
    settings.ANNOTATE_ONBOARDING_GOLD = 0
    settings.ANNOTATE_CALIBRATION_SIZE = 0
    settings.ANNOTATE_HOUSEKEEPING_SECONDS = 0
    settings.METRICS_TOKEN = "matrix-metrics-token"
    for name in ("curator", "annotator"):
        Group.objects.get_or_create(name=name)
    curator = make_user("cora", "curator")
    superuser = make_user("root", None, superuser=True)
    annotator = make_user("anna", "annotator")
    other = make_user("otto-the-other", "annotator")
    Token.objects.create(user=curator)

    items = sample_candidates(wnids=[BIRD, INSECT], positives=6, negatives=3, seed=3)
    queue_sync(full=True)
    # Another annotator has voted (their votes and identity must stay hidden from anna).
    otto = annotator_for_user(other)
    task = task_next(annotator=otto)
    assert task is not None
    task_submit(
        annotator=otto,
        token=task.token,
        client_token=uuid.uuid4().hex,
        answers=[Answer(item=t, shows=True) for t in task.items.values_list("token", flat=True)],
    )
    gold = gold_mark(candidate=Candidate.objects.get(pk=items[-1].candidate_id), truth=False)
    anna = annotator_for_user(annotator)
    anna_task = task_next(annotator=anna)
    assert anna_task is not None

    job = job_run_inline(job=job_create(kind="test_sleep", params={"n": 2, "chunk": 2}))
    ingest_job = job_create(kind="ingest", params={"source": str(tmp_path)})
    IngestItem.objects.create(job=ingest_job, seq=0, uri="http://x/1.jpg", reason="http_404")
    ImageOrigin.objects.create(
        image=Image.objects.order_by("pk").first(), uri="http://x/2.jpg", uri_hash="0" * 40
    )
    study = study_create(name="pilot", platform="prolific", tasks_required=1)
    join = link_token(study=study, worker_id="W-crowd-1")
    # Axes rows for the admin pages.
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    AccessAttempt.objects.create(username="x", ip_address="10.0.0.1", failures_since_start=1)
    AccessLog.objects.create(username="x", ip_address="10.0.0.1")
    AccessFailureLog.objects.create(username="x", ip_address="10.0.0.1")
    from annotate.services.consensus.fit import synset_quality_refresh

    synset_quality_refresh(synset_id=None)

    from django.contrib.contenttypes.models import ContentType

    from curation.models import Synset
    from curation.models.duplicates import DuplicateGroup, DuplicateMember
    from curation.models.exports import DatasetVersion, TrainingRun
    from curation.models.registry import ModelArtifact

    # The objects of the parallel branches' pages (exports, runs, models, duplicate groups).
    version = DatasetVersion.objects.create(name="matrix-v1")
    run = TrainingRun.objects.create(dataset_version=version)
    model = ModelArtifact.objects.create(name="matrix-model", architecture="resnet18")
    first, second = Image.objects.order_by("pk")[:2]
    group = DuplicateGroup.objects.create(representative=first, size=2, kind="near_exact")
    for member, similarity in ((first, 1.0), (second, 0.97)):
        DuplicateMember.objects.create(
            group=group, image=member, kind=group.kind, similarity=similarity
        )

    def make_clients() -> dict[str, Client]:
        clients = {"anonymous": Client()}
        for role, user in (("annotator", annotator), ("curator", curator), ("admin", superuser)):
            clients[role] = Client()
            clients[role].force_login(user)
        crowd = Client()
        assert crowd.get(link_path(join) + "?PROLIFIC_PID=W-crowd-1").status_code == 302
        clients["crowd"] = crowd
        return clients

    image = Image.objects.order_by("pk").first()
    values = {
        "wnid": BIRD,
        "sha": image.sha256,
        "image": image.pk,
        "cand": items[0].candidate_id,
        "job": job.pk,
        "ingest_job": ingest_job.pk,
        "ann": otto.pk,
        "study": study.pk,
        "gold": gold.pk,
        "task": anna_task.token,
        "join": link_token(study=study, worker_id="W-crowd-2"),
        "user": curator.pk,
        "ct": ContentType.objects.get_for_model(Synset).pk,
        "wnid_pk": Synset.objects.get(wnid=BIRD).pk,
        "export": version.name,
        "run": run.pk,
        "model": model.pk,
        "dup": group.pk,
    }
    return World(
        clients=make_clients(),
        values=values,
        annotator=annotator,
        other=other,
        make_clients=make_clients,
    )


def test_every_url_pattern_times_every_role(world: World) -> None:
    table = {**TABLE, **_admin_rows(world.values)}
    patterns = url_patterns()
    missing = [p for p in patterns if p not in table]
    assert not missing, "URL patterns with no row in the permissions table:\n" + "\n".join(
        f"    {p!r}: (...)," for p in missing
    )
    stale = sorted(set(table) - set(patterns) - AWAITING_MERGE)
    assert not stale, f"rows for patterns that no longer exist: {stale}"

    wrong: list[str] = []
    observed: list[str] = []
    for key in patterns:
        method, template, expected = table[key]  # (also covers MERGE_ROWS once they exist)
        url = template.format(**world.values)
        clients = world.make_clients() if key in SESSION_CHANGING else world.clients
        got = []
        started = time.monotonic()
        for role, want in zip(ROLES, expected, strict=True):
            response = clients[role].generic(method, url)
            got.append(response.status_code)
            if response.status_code != want:
                wrong.append(f"{method} {url} as {role}: {response.status_code}, expected {want}")
        observed.append(f"{key!r}: {tuple(got)}  # {time.monotonic() - started:.2f} s")
    if os.environ.get("MATRIX_PRINT"):
        print("\n".join(observed))
    assert not wrong, "\n".join(wrong)


def test_api_token_auth_follows_the_same_roles(world: World) -> None:
    from rest_framework.test import APIClient

    curator_token = Token.objects.get(user__username="cora").key
    annotator_token = Token.objects.create(user=world.annotator).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {curator_token}")
    assert client.get("/api/v1/synsets?q=dog").status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {annotator_token}")
    assert client.get("/api/v1/candidates").status_code == 403
    assert client.get("/api/v1/annotate/me").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/annotate/me").status_code == 401


GOLD_WORDS = re.compile(r"\b(gold|truth|is_gold|votes?_(yes|no)|confidence)\b", re.I)


def test_annotators_never_see_gold_votes_identities_or_exports(world: World) -> None:
    """What an annotator's pages and API answers contain: their task and their own progress.
    No gold flags or truths, no vote counts, nobody else's name, no exports or training data."""
    for role in ("annotator", "crowd"):
        client = world.clients[role]
        bodies = {
            "/annotate/": client.get("/annotate/").content.decode(),
            "next-task": client.get("/api/v1/annotate/next-task").content.decode(),
            "me": client.get("/api/v1/annotate/me").content.decode(),
        }
        for where, body in bodies.items():
            assert world.other.username not in body, (role, where)
            assert "cora" not in body and "root" not in body, (role, where)
            assert not GOLD_WORDS.search(re.sub(r"<[^>]+>", " ", body)), (role, where, body[:500])
            assert Vote.objects.filter(annotator__user=world.other).exists()
        # Every curator/data endpoint (gold, votes, candidates, exports, training) is closed.
        for url in (
            "/api/v1/quality/gold",
            "/api/v1/candidates",
            "/api/v1/quality/annotators",
            "/api/v1/images",
            "/curate/quality/gold/",
            "/curate/quality/annotators/",
        ):
            assert client.get(url).status_code == 403, (role, url)
    # Endpoints other helpers add (exports, training runs, models) are closed too when present.
    for prefix in (
        "/api/v1/exports",
        "/api/v1/training-runs",
        "/api/v1/models",
        "/curate/exports/",
    ):
        status = world.clients["annotator"].get(prefix).status_code
        assert status in (403, 404), (prefix, status)
    assert Annotator.objects.filter(user=world.annotator).exists()
    assert Job.objects.exists()


def test_every_form_and_session_api_call_needs_the_csrf_token(world: World) -> None:
    """A signed-in curator's browser session: any POST without the CSRF token is refused, on
    every URL pattern (pages, forms, admin, and the API under session auth)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="root"))
    table = {**TABLE, **_admin_rows(world.values)}
    accepted = []
    for key in url_patterns():
        url = table[key][1].format(**world.values)
        response = client.post(url, {"x": "1"})
        if response.status_code != 403:
            accepted.append(f"POST {url}: {response.status_code}")
        elif not url.startswith("/api/"):
            assert b"CSRF" in response.content, url
    assert not accepted, "\n".join(accepted)
    # With the token the same client gets through (the refusals above were CSRF, not roles).
    page = client.get("/curate/synsets/")
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else None
    token = token or client.cookies["csrftoken"].value
    response = client.post("/curate/jobs/999999/cancel/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 404
