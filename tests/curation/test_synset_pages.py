"""Curator pages for synsets; role checks on /curate/ and /admin/."""

from __future__ import annotations

import pytest
from django.test import Client

from curation.models import Synset

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator_client(curator) -> Client:  # type: ignore[no-untyped-def]
    c = Client()
    c.force_login(curator)
    return c


@pytest.fixture
def annotator_client(annotator) -> Client:  # type: ignore[no-untyped-def]
    c = Client()
    c.force_login(annotator)
    return c


def test_search_page_finds_husky(curator_client: Client) -> None:
    r = curator_client.get("/curate/synsets/?q=husky")
    assert r.status_code == 200
    assert b"n02109961" in r.content and b"eskimo_dog.n.01" in r.content


def test_detail_page_shows_both_paths_children_and_counts(curator_client: Client) -> None:
    r = curator_client.get("/curate/synsets/n02084071/")
    html = r.content.decode()
    assert r.status_code == 200
    assert "domestic_animal.n.01" in html and "canine.n.02" in html
    assert html.count('<li><a href="/curate/synsets/n00001740/">entity.n.01</a>') == 2
    assert "puppy.n.01" in html
    assert 'data-count="accepted">0<' in html


def test_detail_page_by_name_works(curator_client: Client) -> None:
    assert curator_client.get("/curate/synsets/dog.n.01/").status_code == 200
    assert curator_client.get("/curate/synsets/n99999999/").status_code == 404


def test_big_subtree_page_uses_few_queries(
    curator_client: Client, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    # organism.n.01 has tens of thousands of descendants; the page must not walk them.
    organism = Synset.objects.get(name="organism.n.01")
    assert organism.descendant_count > 5_000
    with django_assert_max_num_queries(20):
        r = curator_client.get(f"/curate/synsets/{organism.wnid}/")
    assert r.status_code == 200


def test_activate_form_with_subtree_and_target(curator_client: Client) -> None:
    r = curator_client.post(
        "/curate/synsets/activate/",
        {
            "synsets": "n02084071",
            "subtree": "on",
            "target": "250",
            "next": "/curate/synsets/n02084071/",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/curate/synsets/n02084071/"
    assert Synset.objects.filter(active=True, target_images=250).count() == 190


def test_activate_form_unknown_name_shows_error(curator_client: Client) -> None:
    r = curator_client.post("/curate/synsets/activate/", {"synsets": "dgo.n.01"}, follow=True)
    assert "unknown synset" in r.content.decode() and "dog.n.01" in r.content.decode()
    assert not Synset.objects.filter(active=True).exists()


def test_activate_form_bad_target(curator_client: Client) -> None:
    r = curator_client.post(
        "/curate/synsets/activate/", {"synsets": "n02084071", "target": "lots"}, follow=True
    )
    assert "whole number" in r.content.decode()


def test_activate_form_refuses_offsite_redirect(curator_client: Client) -> None:
    r = curator_client.post(
        "/curate/synsets/activate/", {"synsets": "n02084071", "next": "https://evil.example/"}
    )
    assert r["Location"] == "/curate/synsets/"


def test_annotator_cannot_reach_curate_or_admin(annotator_client: Client) -> None:
    assert annotator_client.get("/curate/").status_code == 403
    assert annotator_client.get("/curate/synsets/").status_code == 403
    assert (
        annotator_client.post("/curate/synsets/activate/", {"preset": "ilsvrc1k"}).status_code
        == 403
    )
    assert annotator_client.get("/admin/").status_code == 403
    assert annotator_client.get("/admin/curation/synset/").status_code == 403
    assert annotator_client.get("/annotate/").status_code == 200
    assert not Synset.objects.filter(active=True).exists()


def test_curator_reaches_admin(curator_client: Client) -> None:
    assert curator_client.get("/admin/").status_code == 200
    assert curator_client.get("/admin/curation/synset/?q=husky").status_code == 200


def test_anonymous_is_sent_to_login() -> None:
    r = Client().get("/curate/synsets/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert Client().get("/accounts/login/").status_code == 200


def test_home_redirects_by_role(curator_client: Client, annotator_client: Client) -> None:
    assert curator_client.get("/")["Location"] == "/curate/"
    assert annotator_client.get("/")["Location"] == "/annotate/"
