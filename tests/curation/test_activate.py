"""activate_synsets: by wnid or name, subtrees, presets, targets; all-or-nothing; idempotent."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from curation.models import Synset
from curation.services.synsets import SynsetLookupError, synsets_activate

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def active_wnids() -> set[str]:
    return set(Synset.objects.filter(active=True).values_list("wnid", flat=True))


def test_activate_by_wnid_and_name() -> None:
    summary = synsets_activate(identifiers=["n02084071", "cat.n.01"], target=500)
    assert summary.matched == 2 and summary.changed == 2
    assert active_wnids() == {"n02084071", "n02121620"}
    assert set(Synset.objects.filter(active=True).values_list("target_images", flat=True)) == {500}


def test_subtree_activates_every_descendant_once() -> None:
    summary = synsets_activate(identifiers=["n02084071"], subtree=True)
    assert summary.matched == 190  # dog + 189 descendants
    again = synsets_activate(identifiers=["n02084071"], subtree=True)
    assert again.changed == 0 and again.already == 190


def test_unknown_identifier_changes_nothing_and_suggests() -> None:
    with pytest.raises(SynsetLookupError) as err:
        synsets_activate(identifiers=["n02084071", "dgo.n.01", "n99999999"])
    assert "dog.n.01" in err.value.unknown["dgo.n.01"]
    assert "n99999999" in err.value.unknown
    assert active_wnids() == set()


def test_presets_activate_exact_counts() -> None:
    assert synsets_activate(preset="ilsvrc1k").matched == 1_000
    assert Synset.objects.filter(active=True).count() == 1_000
    assert synsets_activate(preset="imagenet21k").matched == 21_841


def test_deactivate_subtree() -> None:
    synsets_activate(identifiers=["n02084071"], subtree=True)
    summary = synsets_activate(identifiers=["n02084071"], subtree=True, active=False)
    assert summary.changed == 190
    assert active_wnids() == set()


def test_negative_target_is_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        synsets_activate(identifiers=["n02084071"], target=-1)


def test_command_prints_summary_and_is_idempotent() -> None:
    out = io.StringIO()
    call_command("activate_synsets", "--preset", "ilsvrc1k", "--target", "1300", stdout=out)
    assert "1,000 synsets matched; 1,000 activated" in out.getvalue()
    out = io.StringIO()
    call_command("activate_synsets", "--preset", "ilsvrc1k", "--target", "1300", stdout=out)
    assert "0 activated, 1,000 already were" in out.getvalue()
    assert "(0 changed)" in out.getvalue()


def test_command_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match=r"(?s)did you mean .*dog.n.01.*nothing was changed"):
        call_command("activate_synsets", "n02084071", "dgo.n.01")
    assert active_wnids() == set()
