"""Exports end to end on PostgreSQL and real ingested images: zero leakage with planted duplicate
groups and cross-class images, determinism, formats, verify, policies."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from curation.models import AuditEvent, DatasetVersion, Image
from curation.services.exports import export_create, export_preview, export_verify
from curation.services.exports.writer import exports_root
from tests.exports.conftest import BIRD, CAT, DOG, PER_CLASS, Planted

pytestmark = pytest.mark.django_db

CONFIG = {
    "synsets": [DOG, CAT, BIRD],
    "val_per_class": 3,
    "test_per_class": 2,
    "formats": ["imagefolder", "webdataset"],
}


def manifest(version: DatasetVersion) -> list[dict]:
    text = (Path(version.path) / "manifest.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_is_leak_free_counts_right_and_every_format_is_readable(planted: Planted) -> None:
    preview = export_preview(config=CONFIG, seed=7)
    version = export_create(name="dogs-v1", config=CONFIG, seed=7, inline=True)
    assert version.status == "ready", version.error
    root = Path(version.path)
    assert root.name == "dogs-v1" and (root / "dataset.json").is_file()
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".tmp-")]
    rows = manifest(version)
    split_of = {r["sha256"]: r["split"] for r in rows}

    # Planted duplicate groups: one representative each, never two members (any split).
    for group in planted.groups:
        assert len([s for s in group if s in split_of]) == 1, group
    # Images accepted for dog and cat are excluded (default policy) and reported.
    assert not set(planted.cross_class) & set(split_of)
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["selection"]["multiclass"]["images"] == 2
    assert meta["selection"]["duplicates"]["members_dropped"] == 3 + 1 + 1 + 2
    assert version.leakage["pairs_across_splits"] == 0
    assert meta["leakage"]["pairs_across_splits"] == 0

    # Counts: per class val 3, test 2, the rest train; preview == export.
    dog7, bird7 = planted.groups[2]  # the cross-class group keeps its representative (max sha)
    expected_units = {
        DOG: PER_CLASS - 3 - (dog7 != max(dog7, bird7)),
        CAT: PER_CLASS - 1,
        BIRD: PER_CLASS - 2 - (bird7 != max(dog7, bird7)),
    }
    for wnid, units in expected_units.items():
        c = version.counts[wnid]
        assert (c["val"], c["test"], c["train"]) == (3, 2, units - 5), (wnid, c)
    assert {c["wnid"]: {s: c[s] for s in ("train", "val", "test")} for c in preview["classes"]} == (
        version.counts
    )
    assert version.num_images == len(rows) == sum(sum(c.values()) for c in version.counts.values())
    # Classes: sorted by wnid, index = line of synsets.txt.
    lines = (root / "synsets.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == sorted([DOG, CAT, BIRD])
    assert lines[1] == f"{DOG} dog"
    assert all(lines[r["class_index"]].split()[0] == r["wnid"] for r in rows)

    # ImageFolder: hardlinks of the stored originals with the right sha256.
    for r in rows:
        path = root / r["path"]
        assert r["path"] == f"imagefolder/{r['split']}/{r['wnid']}/{r['sha256']}.{path.suffix[1:]}"
        assert sha(path) == r["sha256"]
        image = Image.objects.get(sha256=r["sha256"])
        assert (image.width, image.height) == (r["width"], r["height"])
        assert os.stat(path).st_ino == os.stat(default_storage.path(image.storage_key)).st_ino
    csv_lines = (root / "manifest.csv").read_text().splitlines()
    assert csv_lines[0] == "path,wnid,class_index,split,sha256,width,height"
    assert len(csv_lines) == len(rows) + 1

    # WebDataset: shards readable by `webdataset`, every sample once, bytes and class right.
    import webdataset as wds

    shards = sorted((root / "webdataset").glob("*.tar"))
    assert all(s.stat().st_size <= CONFIG.get("shard_max_bytes", 256 << 20) for s in shards)
    assert shards and all(s.name.split("-")[0] in ("train", "val", "test") for s in shards)
    seen = {}
    for sample in wds.WebDataset([str(s) for s in shards], shardshuffle=False):
        data = sample.get("jpg") or sample.get("png")
        assert hashlib.sha256(data).hexdigest() == sample["__key__"]
        info = json.loads(sample["json"])
        assert int(sample["cls"]) == info["class_index"]
        seen[sample["__key__"]] = info["wnid"]
    assert seen == {r["sha256"]: r["wnid"] for r in rows}
    # dataset.json checksums every non-image file; verify passes.
    assert set(meta["files"]) >= {"manifest.jsonl", "manifest.csv", "synsets.txt"}
    assert (
        meta["files"]["manifest.jsonl"] == sha(root / "manifest.jsonl") == version.manifest_sha256
    )
    assert export_verify(version=version)["ok"]
    assert meta["provenance"]["accepted_by_method"] == {"consensus": 3 * PER_CLASS + 4}
    assert AuditEvent.objects.filter(action="export.create", target_id=str(version.pk)).exists()


def test_same_config_and_inputs_give_byte_identical_manifests(planted: Planted) -> None:
    stale = exports_root() / ".tmp-ghost-0123abcd"  # a dead export's leftovers
    (stale / "imagefolder").mkdir(parents=True)
    a = export_create(name="a", config=CONFIG, seed=11, inline=True)
    b = export_create(name="b", config=CONFIG, seed=11, inline=True)
    c = export_create(name="c", config=CONFIG, seed=12, inline=True)
    for f in ("manifest.jsonl", "manifest.csv", "synsets.txt"):
        assert (Path(a.path) / f).read_bytes() == (Path(b.path) / f).read_bytes()
    assert a.manifest_sha256 == b.manifest_sha256 != c.manifest_sha256
    assert not stale.exists()  # swept by the next export
    # The split depends on sha256 order and the seed only: same counts, other members.
    assert a.counts == c.counts


def test_keep_all_duplicates_land_in_one_split_and_multiclass_kept_once(planted: Planted) -> None:
    cfg = {
        **CONFIG,
        "duplicates": "keep_all",
        "multiclass": "keep_once",
        "val_fraction": 0.3,
        "val_per_class": None,
        "test_per_class": None,
        "test_fraction": 0.2,
    }
    version = export_create(name="all", config=cfg, seed=3, inline=True)
    assert version.status == "ready", version.error
    rows = manifest(version)
    split_of = {r["sha256"]: r["split"] for r in rows}
    for group in planted.groups:
        assert {split_of[s] for s in group} and len({split_of[s] for s in group}) == 1, group
    for s in planted.cross_class:  # kept once, in the lowest class index (dog < cat)
        assert [r["wnid"] for r in rows if r["sha256"] == s] == [DOG]
    assert version.leakage["pairs_across_splits"] == 0


def test_copy_mode_subtree_rollup_and_min_per_class(planted: Planted) -> None:
    # carnivore.n.01 subtree rolled up to dog and cat; bird is outside; min drops nothing here.
    cfg = {
        "subtree": "n02075296",
        "rollup": [DOG, CAT],
        "val_per_class": 2,
        "formats": ["imagefolder"],
        "imagefolder_mode": "copy",
        "min_per_class": 5,
    }
    version = export_create(name="carnivores", config=cfg, seed=1, inline=True)
    assert version.status == "ready", version.error
    assert sorted(version.counts) == [DOG, CAT]
    for r in manifest(version):
        path = Path(version.path) / r["path"]
        image = Image.objects.get(sha256=r["sha256"])
        assert os.stat(path).st_ino != os.stat(default_storage.path(image.storage_key)).st_ino
        assert sha(path) == r["sha256"]
    big = export_preview(config={**cfg, "min_per_class": 1000})
    assert big["classes"] == [] and big["report"]["classes_dropped"] == 2


def test_verify_export_reports_tampered_missing_and_extra_files(planted: Planted) -> None:
    version = export_create(name="tamper", config=CONFIG, seed=5, inline=True)
    root = Path(version.path)
    out = io.StringIO()
    call_command("verify_export", "tamper", stdout=out)
    assert "ok: every file matches" in out.getvalue()
    rows = manifest(version)
    changed = root / rows[0]["path"]
    data = changed.read_bytes()
    changed.unlink()  # break the hardlink before writing, never touch the stored original
    changed.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    (root / rows[1]["path"]).unlink()
    (root / rows[2]["path"]).parent.joinpath("intruder.jpg").write_bytes(b"x")
    shard = sorted((root / "webdataset").glob("*.tar"))[0]
    with shard.open("r+b") as f:
        f.seek(600)
        f.write(b"\x00tampered")
    out = io.StringIO()
    with pytest.raises(CommandError, match="differences"):
        call_command("verify_export", "tamper", stdout=out)
    text = out.getvalue()
    assert f"changed  {rows[0]['path']}" in text
    assert f"missing  {rows[1]['path']}" in text
    assert "extra    " in text and "intruder.jpg" in text
    assert f"changed  webdataset/{shard.name}" in text


def test_export_command_prints_the_directory_and_a_summary(planted: Planted) -> None:
    out = io.StringIO()
    call_command(
        "export",
        "cmd-v1",
        "--synsets",
        DOG,
        CAT,
        "--val-per-class",
        "2",
        "--format",
        "imagefolder",
        "--seed",
        "4",
        "--inline",
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    version = DatasetVersion.objects.get(name="cmd-v1")
    assert lines[0] == version.path and (Path(lines[0]) / "dataset.json").is_file()
    assert "leakage: 0 duplicate pairs" in out.getvalue()
    with pytest.raises(CommandError, match="synsets: unknown synsets: n99999999"):
        call_command("export", "cmd-v2", "--synsets", "n99999999", "--inline", stdout=out)
    with pytest.raises(CommandError, match="name: the name 'cmd-v1' is taken"):
        call_command("export", "cmd-v1", "--synsets", DOG, "--inline", stdout=out)
    assert DatasetVersion.objects.count() == 1
