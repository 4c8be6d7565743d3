"""Export pages: the list of versions, the new-export form with a live preview, a version's page
(status, progress, counts chart, leakage, checksums, downloads). Curators only."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods, require_POST

from curation.models import Synset
from curation.permissions import curator_required
from curation.selectors.exports import (
    DOWNLOADS,
    chart_rows,
    export_download,
    export_version,
    export_versions,
)
from curation.services.exports import (
    ExportConfigError,
    export_create,
    export_preview,
    export_sync_status,
)
from curation.services.exports.config import DEFAULTS

TRAIN_URL_NAMES = ("curate:export-train", "curate:export_train", "curation:export_train")


def _train_url(name: str) -> str:
    for url_name in TRAIN_URL_NAMES:
        try:
            return reverse(url_name, kwargs={"name": name})
        except NoReverseMatch:
            continue
    return ""


def form_config(post: Any) -> tuple[str, dict[str, Any], str]:
    """The export form's fields as (name, config, seed)."""
    split = post.get("split_scheme", "per_class")
    config: dict[str, Any] = {
        "synsets": post.get("synsets", "") if post.get("source", "synsets") == "synsets" else [],
        "subtree": post.get("subtree", "") if post.get("source") == "subtree" else None,
        "rollup": post.get("rollup", "") if post.get("source") == "subtree" else [],
        "include_hyponyms": post.get("include_hyponyms") in ("on", "1", "true"),
        "min_per_class": post.get("min_per_class", ""),
        "max_per_class": post.get("max_per_class", ""),
        "formats": post.getlist("formats") or ["jsonl"],
        "imagefolder_mode": post.get("imagefolder_mode", "hardlink"),
        "duplicates": post.get("duplicates", "representative"),
        "multiclass": post.get("multiclass", "exclude"),
    }
    if split == "fraction":
        config["val_fraction"] = post.get("val_fraction", "")
        config["test_fraction"] = post.get("test_fraction", "")
    else:
        config["val_per_class"] = post.get("val_per_class", "")
        config["test_per_class"] = post.get("test_per_class", "")
    if post.get("shard_max_mb"):
        try:
            config["shard_max_bytes"] = int(float(post["shard_max_mb"]) * (1 << 20))
        except ValueError:
            config["shard_max_bytes"] = post["shard_max_mb"]
    return post.get("name", "").strip(), config, post.get("seed", "0").strip() or "0"


@curator_required
def export_list(request: HttpRequest) -> HttpResponse:
    versions = [export_sync_status(v) for v in export_versions()[:200]]
    return render(request, "curation/export_list.html", {"versions": versions})


@curator_required
@require_http_methods(["GET", "POST"])
def export_new(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "source": "synsets",
        "split_scheme": "per_class",
        "seed": "0",
        "val_per_class": "50",
        "min_per_class": "1",
        "formats": ["imagefolder", "jsonl"],
        **DEFAULTS,
    }
    if request.method == "POST":
        name, config, seed = form_config(request.POST)
        try:
            version = export_create(name=name, config=config, seed=seed, created_by=request.user)
        except ExportConfigError as exc:
            errors = exc.errors
            values = {k: request.POST.get(k, "") for k in request.POST}
            values["formats"] = request.POST.getlist("formats")
        else:
            messages.success(request, f"Export {version.name} started.")
            return redirect("curate:export-detail", name=version.name)
    active = Synset.objects.filter(active=True).order_by("wnid").values_list("wnid", "name")[:5000]
    return render(
        request,
        "curation/export_new.html",
        {"errors": errors, "values": values, "active_synsets": list(active)},
        status=400 if errors else 200,
    )


@curator_required
@require_POST
def export_preview_view(request: HttpRequest) -> JsonResponse:
    _, config, seed = form_config(request.POST)
    try:
        return JsonResponse(export_preview(config=config, seed=seed))
    except ExportConfigError as exc:
        return JsonResponse({"errors": exc.errors}, status=400)


@curator_required
def export_detail(request: HttpRequest, name: str) -> HttpResponse:
    version = export_version(name)
    totals = {"train": 0, "val": 0, "test": 0}
    for row in version.counts.values():
        for s in totals:
            totals[s] += row.get(s, 0)
    meta: dict[str, Any] = {}
    if version.status == "ready":
        try:
            with open(f"{version.path}/dataset.json", encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            meta = {}
    return render(
        request,
        "curation/export_detail.html",
        {
            "version": version,
            "job": version.job,
            "totals": totals,
            "chart": chart_rows(version.counts),
            "files": sorted((meta.get("files") or {}).items())[:200],
            "selection": meta.get("selection") or {},
            "provenance": meta.get("provenance") or {},
            "downloads": list(DOWNLOADS),
            "train_url": _train_url(version.name) if version.status == "ready" else "",
            "config_json": json.dumps(version.config, indent=1, sort_keys=True),
        },
    )


@curator_required
def export_download_view(request: HttpRequest, name: str, file: str) -> HttpResponse:
    return export_download(export_version(name), file)
