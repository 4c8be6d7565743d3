"""Models / prelabel / auto-reject API and pages: permissions, activation, jobs, auto-reject
rules (gold and voted candidates are never machine-decided), similarity scores, image API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from annotate.models import Decision, GoldItem, QueueItem
from annotate.services.queue import queue_sync
from curation.models import AuditEvent, Candidate, Image, Job, ModelArtifact, Prediction, Synset
from curation.services.auto_reject import synset_auto_reject_set
from curation.services.models import model_register_default
from curation.services.scoring import similarity_scores_refresh

pytestmark = pytest.mark.django_db

DOG = "n02084071"
ROCK = "n09416076"  # rock.n.01: no ILSVRC class at or below it


def _image(n: int) -> Image:
    return Image.objects.create(
        sha256=f"{n:064x}", storage_key=f"originals/{n}.jpg", format="JPEG", width=10, height=10,
        bytes=1,
    )  # fmt: skip


def test_annotators_get_403(annotator_api) -> None:  # type: ignore[no-untyped-def]
    model = model_register_default()
    assert annotator_api.get("/api/v1/models/").status_code == 403
    assert annotator_api.post(f"/api/v1/models/{model.pk}/activate/").status_code == 403
    assert annotator_api.post("/api/v1/prelabel/", {}, format="json").status_code == 403
    r = annotator_api.put(f"/api/v1/synsets/{DOG}/auto-reject/", {"auto_reject_below": 0.1})
    assert r.status_code == 403
    assert Job.objects.count() == 0


def test_anonymous_is_refused() -> None:
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/models/").status_code in (401, 403)


def test_models_list_activate_and_prelabel_job(curator_api, curator) -> None:  # type: ignore[no-untyped-def]
    r = curator_api.get("/api/v1/models/")
    assert r.status_code == 200
    [default] = r.json()
    assert default["active"] and default["class_count"] == 1000
    other = ModelArtifact.objects.create(name="mine", kind="trained", architecture="resnet18")
    r = curator_api.post(f"/api/v1/models/{other.pk}/activate/")
    assert r.status_code == 200 and r.json()["active"]
    names = [(m["name"], m["active"]) for m in curator_api.get("/api/v1/models/").json()]
    assert names == [("mine", True), (default["name"], False)]
    assert AuditEvent.objects.filter(action="model.activate", actor=curator).exists()

    r = curator_api.post("/api/v1/prelabel/", {"synset": DOG}, format="json")
    assert r.status_code == 202, r.content
    job = Job.objects.get(pk=r.json()["id"])
    assert (job.kind, job.queue, job.params["model"], job.params["synset"]) == (
        "prelabel", "gpu", "mine", DOG,
    )  # fmt: skip
    bad = curator_api.post("/api/v1/prelabel/", {"model": "nope"}, format="json")
    assert bad.status_code == 400 and "nope" in bad.content.decode()
    bad = curator_api.post("/api/v1/prelabel/", {"synset": "n99999999"}, format="json")
    assert bad.status_code == 400


def test_auto_reject_rules_and_queue(curator_api, curator) -> None:  # type: ignore[no-untyped-def]
    dog = Synset.objects.get(wnid=DOG)
    low, high, gold, voted, unscored = (
        Candidate.objects.create(image=_image(i), synset=dog, machine_score=s)
        for i, s in enumerate([0.01, 0.9, 0.02, 0.03, None])
    )
    GoldItem.objects.create(candidate=gold, truth=True)
    Candidate.objects.filter(pk=voted.pk).update(votes_yes=1)
    queue_sync(full=True)
    assert QueueItem.objects.filter(open=True).count() == 4  # gold has no queue row

    for hostile in (1.5, -0.1, "x"):
        r = curator_api.put(f"/api/v1/synsets/{DOG}/auto-reject/", {"auto_reject_below": hostile})
        assert r.status_code == 400
    r = curator_api.put(
        f"/api/v1/synsets/{DOG}/auto-reject/", {"auto_reject_below": 0.05}, format="json"
    )
    assert r.status_code == 200 and r.json() == {"auto_reject_below": 0.05, "rejected": 1}
    states = dict(Candidate.objects.values_list("pk", "state"))
    assert states == {
        low.pk: "rejected", high.pk: "pending", gold.pk: "pending", voted.pk: "pending",
        unscored.pk: "pending",
    }  # fmt: skip
    low.refresh_from_db()
    assert low.decided_by == "machine" and low.decided_at
    assert Decision.objects.get(candidate=low).method == "machine"
    assert not QueueItem.objects.get(candidate=low).open
    event = AuditEvent.objects.get(action="synset.auto_reject")
    assert event.actor == curator and event.details["threshold"] == 0.05
    assert curator_api.get(f"/api/v1/synsets/{DOG}/").json()["auto_reject_below"] == 0.05
    # Off again: nothing else changes.
    assert synset_auto_reject_set(synset=dog, threshold=None, actor=curator) == 0
    dog.refresh_from_db()
    assert dog.auto_reject_below is None


def test_similarity_scores_for_synsets_without_a_class(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """rock.n.01 has no ILSVRC class below it: its candidates are scored by embedding similarity
    to its accepted images once there are some (null before)."""
    from worker.embeddings import EmbeddingStore

    settings.DATA_ROOT = tmp_path
    model = model_register_default()
    rock = Synset.objects.get(wnid=ROCK)
    images = [_image(100 + i) for i in range(4)]
    rng = np.random.default_rng(0)
    base = rng.normal(size=1280)
    vecs = np.stack([base + rng.normal(scale=s, size=1280) for s in (0.1, 0.2, 0.3, 30.0)])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    EmbeddingStore.for_model(model.name).append([i.pk for i in images], vecs)
    cands = [Candidate.objects.create(image=i, synset=rock) for i in images]
    for i in images:
        Prediction.objects.create(
            image=i, model=model, has_embedding=True, synset_scores={ROCK: None}
        )
    assert similarity_scores_refresh(model=model)["scored"] == 0  # no positives yet
    Candidate.objects.filter(pk=cands[0].pk).update(state="accepted")
    assert similarity_scores_refresh(model=model)["scored"] == 3
    scores = dict(Candidate.objects.values_list("image_id", "machine_score"))
    assert scores[images[0].pk] is None  # the positive itself is not scored against itself
    assert scores[images[1].pk] > 0.9 and scores[images[2].pk] > 0.8
    assert scores[images[3].pk] < 0.2
    pred = Prediction.objects.get(image=images[1], model=model)
    assert pred.synset_scores[ROCK] == pytest.approx(scores[images[1].pk], abs=1e-5)


def test_image_api_and_page_show_predictions(curator_api, curator) -> None:  # type: ignore[no-untyped-def]
    model = model_register_default()
    image = _image(7)
    Candidate.objects.create(image=image, synset=Synset.objects.get(wnid=DOG), machine_score=0.8)
    Prediction.objects.create(
        image=image, model=model, top5=[["n02085620", 0.7], ["n02085782", 0.1]],
        synset_scores={DOG: 0.8}, has_embedding=True,
    )  # fmt: skip
    data = curator_api.get(f"/api/v1/images/{image.pk}/").json()
    assert data["predictions"] == [
        {
            "model": model.name, "active": True, "top5": [["n02085620", 0.7], ["n02085782", 0.1]],
            "synset_scores": {DOG: 0.8}, "error": "",
            "created_at": data["predictions"][0]["created_at"],
        }
    ]  # fmt: skip
    client = Client()
    client.force_login(curator)
    html = client.get(f"/curate/images/{image.pk}/").content.decode()
    assert "Machine opinion" in html and "Chihuahua" in html and "70.0%" in html
    html = client.get("/curate/models/").content.decode()
    assert model.name in html and "active" in html
    assert "Pre-label" in client.get("/curate/").content.decode()
    page = client.get(f"/curate/synsets/{DOG}/").content.decode()
    assert "auto_reject_below" in page and "Pre-label this synset" in page
    grid = client.get(f"/curate/synsets/{DOG}/candidates/?sort=score_desc").content.decode()
    assert "0.80" in grid


def test_pages_forbid_annotators(annotator) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(annotator)
    assert client.get("/curate/models/").status_code == 403
    assert client.post("/curate/prelabel/").status_code == 403
    assert (
        client.post(f"/curate/synsets/{DOG}/auto-reject/", {"auto_reject_below": "0.5"}).status_code
        == 403
    )


def test_hostile_inputs_get_specific_errors(curator_api) -> None:  # type: ignore[no-untyped-def]
    model_register_default()
    assert curator_api.post("/api/v1/models/abc/activate/").status_code == 404
    assert curator_api.post("/api/v1/models/999999/activate/").status_code == 404
    for body in ({"model": "²"}, {"model": "x" * 5000}, {"synset": "' OR 1=1 --"}):
        r = curator_api.post("/api/v1/prelabel/", body, format="json")
        assert r.status_code == 400, (body, r.content)
    r = curator_api.post("/api/v1/prelabel/", {"synset": "a\x00b"}, format="json")
    assert r.status_code == 400
    r = curator_api.put(f"/api/v1/synsets/{DOG}/auto-reject/", {}, format="json")
    assert r.status_code == 400
    r = curator_api.put("/api/v1/synsets/n99999999/auto-reject/", {"auto_reject_below": 0.1})
    assert r.status_code == 404
    assert Job.objects.count() == 0
