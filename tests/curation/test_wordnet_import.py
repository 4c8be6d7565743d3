"""import_wordnet against the real database: exact WordNet 3.0 figures, idempotence, repair."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count

from curation.models import Synset, SynsetClosure, SynsetEdge
from curation.selectors.synsets import hypernym_paths
from curation.services.wordnet import wordnet_import
from curation.wordnet import HOW_TO_GET_WORDNET, WordNetNotFound, locate_wordnet

pytestmark = pytest.mark.django_db


def test_catalogue_has_exact_wordnet_30_figures() -> None:
    assert Synset.objects.count() == 82_115
    assert SynsetEdge.objects.count() == 84_427
    multi = SynsetEdge.objects.values("child").annotate(n=Count("id")).filter(n__gt=1).count()
    assert multi == 2_213
    assert SynsetClosure.objects.filter(distance__gt=0).count() == 743_241
    assert SynsetClosure.objects.filter(distance=0).count() == 82_115
    assert SynsetEdge.objects.filter(kind="instance").count() == 8_577


def test_dog_has_189_descendants_and_two_paths_to_entity() -> None:
    dog = Synset.objects.get(wnid="n02084071")
    assert dog.name == "dog.n.01"
    assert dog.lemmas == ["dog", "domestic_dog", "Canis_familiaris"]
    assert dog.descendant_count == 189
    assert SynsetClosure.objects.filter(ancestor=dog, distance__gt=0).count() == 189
    paths = [[s.name for s in path] for path in hypernym_paths(dog)]
    assert len(paths) == 2
    assert all(p[0] == "entity.n.01" and p[-1] == "dog.n.01" for p in paths)
    assert {p[-2] for p in paths} == {"domestic_animal.n.01", "canine.n.02"}


def test_entity_is_the_root_of_everything() -> None:
    entity = Synset.objects.get(wnid="n00001740")
    assert entity.name == "entity.n.01"
    assert entity.depth == 0
    assert entity.descendant_count == 82_114
    assert not SynsetEdge.objects.filter(child=entity).exists()


def test_instance_hypernyms_are_edges() -> None:
    # Albert Einstein is an instance of physicist.n.01 (and genius.n.01), not a hyponym.
    einstein = Synset.objects.get(name="einstein.n.01")
    kinds = set(SynsetEdge.objects.filter(child=einstein).values_list("kind", flat=True))
    assert kinds == {"instance"}


def test_second_run_changes_nothing() -> None:
    summary = wordnet_import()
    assert summary.changes == 0
    assert summary.synsets_total == 82_115


def test_rerun_repairs_exactly_what_was_damaged() -> None:
    dog = Synset.objects.get(wnid="n02084071")
    Synset.objects.filter(pk=dog.pk).update(gloss="tampered")
    SynsetEdge.objects.filter(child=dog).order_by("pk").first().delete()
    removed = SynsetClosure.objects.filter(descendant=dog, distance__gt=3).delete()[0]
    bogus = Synset.objects.get(wnid="n02121808")  # domestic_cat: never an ancestor of dog
    SynsetClosure.objects.create(ancestor=bogus, descendant=dog, distance=1)

    summary = wordnet_import()
    assert summary.synsets_updated == 1
    assert summary.edges_created == 1
    assert summary.closure_created == removed
    assert summary.closure_deleted == 1
    dog.refresh_from_db()
    assert dog.gloss.startswith("a member of the genus Canis")
    assert len(hypernym_paths(dog)) == 2


def test_command_prints_summary_with_zero_changes() -> None:
    out = io.StringIO()
    call_command("import_wordnet", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "82,115" in text and "743,241" in text and "0 changes" in text


def test_missing_wordnet_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nothing")])
    with pytest.raises(WordNetNotFound) as err:
        locate_wordnet(None, tmp_path / "staging", str(tmp_path / "no-dict"))
    assert "apt-get install wordnet-base wordnet-sense-index" in str(err.value)
    assert str(err.value) == HOW_TO_GET_WORDNET


def test_wordnet_dir_that_is_not_wordnet_is_refused(tmp_path: Path) -> None:
    (tmp_path / "random.txt").write_text("hello")
    with pytest.raises(WordNetNotFound, match="neither a WordNet dict directory"):
        locate_wordnet(str(tmp_path), tmp_path / "staging", "/nonexistent")


def test_dict_dir_is_staged_as_nltk_data_with_lexnames(tmp_path: Path) -> None:
    root = locate_wordnet("/usr/share/wordnet", tmp_path / "nltk", "/nonexistent")
    staged = root / "corpora" / "wordnet"
    assert (staged / "data.noun").stat().st_size == Path(
        "/usr/share/wordnet/data.noun"
    ).stat().st_size
    lexnames = (staged / "lexnames").read_text().splitlines()
    assert len(lexnames) == 45 and lexnames[5] == "05\tnoun.animal\t1"


def test_nltk_data_dir_is_used_as_is(tmp_path: Path) -> None:
    staged = locate_wordnet("/usr/share/wordnet", tmp_path / "nltk", "/nonexistent")
    assert locate_wordnet(str(staged), tmp_path / "other", "/nonexistent") == staged


def test_other_wordnet_version_is_refused(tmp_path: Path) -> None:
    from curation.wordnet import read_nouns

    root = locate_wordnet("/usr/share/wordnet", tmp_path / "nltk", "/nonexistent")
    fake = tmp_path / "fake"
    shutil.copytree(root, fake)
    data_adj = fake / "corpora" / "wordnet" / "data.adj"
    data = data_adj.read_bytes()
    assert b"WordNet 3.0 Copyright" in data
    data_adj.write_bytes(data.replace(b"WordNet 3.0 Copyright", b"WordNet 3.1 Copyright", 1))
    with pytest.raises(WordNetNotFound, match=r"found WordNet 3\.1"):
        read_nouns(fake)
