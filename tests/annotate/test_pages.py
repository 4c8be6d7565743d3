"""Curator quality pages and the annotator page, rendered by Django's test client."""

from __future__ import annotations

import pytest
from django.test import Client

from annotate.models import Annotator, GoldItem, Study
from annotate.services.annotators import annotators_fit
from annotate.services.consensus import consensus_synset
from annotate.services.simulate import Truth, crowd_pool, run_local, sim_users
from curation.models import Candidate, Synset
from tests.annotate.conftest import BIRD, INSECT
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db]

PAGES = [
    "/curate/quality/",
    f"/curate/quality/synsets/{BIRD}/",
    f"/curate/quality/synsets/{BIRD}/?state=accepted",
    "/curate/quality/escalated/",
    "/curate/quality/annotators/",
    "/curate/quality/studies/",
    "/curate/quality/import/",
]


@pytest.fixture
def voted(sample, settings):  # type: ignore[no-untyped-def]
    settings.ANNOTATE_CONSENSUS_METHOD = "dynamic_weighted"
    workers = crowd_pool(12, accuracy=(0.75, 0.95), spammers=0.1, seed=4)
    users = sim_users(workers)
    truth = Truth(labels={(i.sha256, i.wnid): i.truth for i in sample.items})
    for _ in range(2):  # collect, fit, collect, fit
        run_local(workers, {w.name: users[w.name][0] for w in workers}, truth, seed=2)
        annotators_fit()
        for synset in Synset.objects.filter(wnid__in=[BIRD, INSECT]):
            consensus_synset(synset_id=synset.pk, force=True)
    return sample


@pytest.fixture
def curator_client(curator) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(curator)
    return client


def test_every_quality_page_renders_with_charts(voted, curator_client) -> None:
    for url in PAGES:
        response = curator_client.get(url)
        assert response.status_code == 200, url
    overview = curator_client.get("/curate/quality/").content.decode()
    assert overview.count("<svg") == 2 and "bird.n.01" in overview
    synset = curator_client.get(f"/curate/quality/synsets/{BIRD}/").content.decode()
    assert synset.count("<svg") == 2
    assert 'class="heat compact"' in synset  # the confidence table
    annotators = curator_client.get("/curate/quality/annotators/").content.decode()
    assert "<svg" in annotators and "sim-" in annotators
    annotator = Annotator.objects.filter(votes_count__gt=0).first()
    assert curator_client.get(f"/curate/quality/annotators/{annotator.pk}/").status_code == 200
    candidate = Candidate.objects.filter(synset__wnid=BIRD).first()
    page = curator_client.get(f"/curate/quality/candidates/{candidate.pk}/")
    assert page.status_code == 200


def test_annotators_get_403_on_quality_pages(voted) -> None:
    client = Client()
    client.force_login(make_user("anna", "annotator"))
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    assert client.post("/curate/quality/gold/", {"candidate": 1, "truth": "yes"}).status_code == 403


def test_curator_marks_gold_adjudicates_and_blocks(voted, curator_client, curator) -> None:
    candidate = Candidate.objects.filter(synset__wnid=BIRD).first()
    back = f"/curate/quality/synsets/{BIRD}/"
    r = curator_client.post(
        "/curate/quality/gold/", {"candidate": candidate.pk, "truth": "no", "next": back}
    )
    assert r.status_code == 302 and r.url == back
    assert GoldItem.objects.get(candidate=candidate).truth is False
    candidate.refresh_from_db()
    assert (candidate.state, candidate.decided_by) == ("rejected", "gold")
    curator_client.post("/curate/quality/gold/", {"candidate": candidate.pk, "truth": "remove"})
    assert not GoldItem.objects.filter(candidate=candidate).exists()

    other = Candidate.objects.filter(synset__wnid=INSECT).first()
    curator_client.post(
        "/curate/quality/adjudicate/", {"candidate": other.pk, "decision": "accept"}
    )
    other.refresh_from_db()
    assert (other.state, other.decided_by) == ("accepted", "curator")
    bad = curator_client.post(
        "/curate/quality/adjudicate/", {"candidate": other.pk, "decision": "maybe"}
    )
    assert bad.status_code == 400

    annotator = Annotator.objects.filter(votes_count__gt=0).first()
    curator_client.post(
        f"/curate/quality/annotators/{annotator.pk}/status/",
        {"status": "blocked", "reason": "spam"},
    )
    annotator.refresh_from_db()
    assert annotator.status == "blocked" and annotator.status_changed_by == curator


def test_policy_form_validates_and_re_decides(voted, curator_client) -> None:
    url = f"/curate/quality/synsets/{BIRD}/"
    r = curator_client.post(url, {"method": "majority", "majority_votes": "3"}, follow=True)
    assert "Policy saved" in r.content.decode()
    assert Candidate.objects.filter(synset__wnid=BIRD, decided_by="majority").exists()
    r = curator_client.post(url, {"method": "nonsense"}, follow=True)
    assert "unknown method" in r.content.decode()
    r = curator_client.post(url, {"method": "", "threshold_override": "1.5"}, follow=True)
    assert "between 0.5 and 1" in r.content.decode()


def test_study_links_and_csv(voted, curator_client) -> None:
    r = curator_client.post(
        "/curate/quality/studies/",
        {"name": "pilot", "platform": "prolific", "tasks_required": "2", "link_hours": "24"},
    )
    study = Study.objects.get(name="pilot")
    assert r.url == f"/curate/quality/studies/{study.pk}/"
    page = curator_client.post(
        r.url, {"workers": "5f1e2d3c4b5a69788796a5b4\n=HYPERLINK(1)", "format": "html"}
    ).content.decode()
    assert "/annotate/join/" in page and "invalid worker id" in page
    csv_response = curator_client.post(r.url, {"workers": "W1 W2", "format": "csv"})
    assert csv_response["Content-Type"] == "text/csv"
    assert csv_response.content.decode().count("/annotate/join/") == 2


def test_escalated_page_pages_through_every_escalated_candidate(
    sample, curator_client: Client, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from annotate.views import quality

    ids = list(Candidate.objects.values_list("pk", flat=True))
    Candidate.objects.filter(pk__in=ids).update(state="escalated")
    per_page = 5
    monkeypatch.setattr(quality, "REVIEW_PAGE_SIZE", per_page)  # a few dozen sample candidates
    seen: set[int] = set()
    pages = -(-len(ids) // per_page)
    for number in range(1, pages + 1):
        response = curator_client.get(f"/curate/quality/escalated/?page={number}")
        assert response.status_code == 200
        shown = {c.pk for c in response.context["candidates"]}
        assert len(shown) == min(per_page, len(ids) - (number - 1) * per_page)
        assert not shown & seen
        seen |= shown
        assert f"page {number} of {pages}" in response.content.decode()
    assert seen == set(ids)  # every escalated candidate is reachable, none twice
