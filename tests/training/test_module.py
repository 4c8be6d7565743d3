"""`python -m training` on a real (small) export: no Django, metrics, checkpoint, seeds, resume,
and specific errors for broken exports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROW_KEYS = {"epoch", "train_loss", "val_loss", "top1", "top5", "lr", "images_per_s", "seconds"}
FAST = ["--workers", "0", "--batch-size", "8", "--image-size", "48"]


def train(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_package_imports_no_django() -> None:
    code = (
        "import sys; import training, training.cli, training.loop, training.data, "
        "training.evaluate, training.models; "
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')); "
        "assert not bad, bad; print('clean')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0 and "clean" in proc.stdout, proc.stderr


@pytest.mark.parametrize("fmt", ["imagefolder", "webdataset"])
def test_one_epoch_on_cpu_writes_metrics_and_a_loadable_checkpoint(
    sample_export: Path, tmp_path: Path, fmt: str
) -> None:
    run = tmp_path / "run"
    out = train("--data", str(sample_export), "--epochs", "1", "--out", str(run),
                "--format", fmt, *FAST)  # fmt: skip
    assert "epoch 1/1" in out.stdout
    (row,) = rows(run)
    assert set(row) >= ROW_KEYS and row["epoch"] == 1 and row["train_images"] == 32
    assert row["data_seconds"] >= 0 and row["compute_seconds"] > 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert {
        "top1",
        "top5",
        "per_class",
        "confusion_matrix",
        "worst_confused",
        "misclassified",
    } <= set(metrics)
    assert metrics["format"] == fmt and metrics["num_val"] == 16 and metrics["top5"] == 1.0
    assert len(metrics["per_class"]) == 4
    assert {"precision", "recall", "f1", "support", "wnid"} <= set(metrics["per_class"][0])
    cm = metrics["confusion_matrix"]
    assert len(cm) == 4 and sum(map(sum, cm)) == 16
    assert sum(cm[i][i] for i in range(4)) == round(metrics["top1"] * 16)
    for ex in metrics["misclassified"]:
        assert len(ex["sha256"]) == 64 and ex["true"] != ex["pred"] and ex["path"]
    assert len(metrics["misclassified"]) == 16 - sum(cm[i][i] for i in range(4))

    import torch

    from training.models import load_for_inference

    model, classes, prep = load_for_inference(str(run / "checkpoint.pt"))
    wnids = (sample_export / "synsets.txt").read_text().split("\n")
    assert classes == [line.split()[0] for line in wnids if line]
    assert model(torch.zeros(1, 3, 48, 48)).shape == (1, 4)
    assert prep.mean == pytest.approx((0.485, 0.456, 0.406))


@pytest.mark.slow
def test_same_seed_same_first_epoch_loss(sample_export: Path, tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in "abc")
    for run, seed in ((a, "3"), (b, "3"), (c, "4")):
        train("--data", str(sample_export), "--epochs", "1", "--out", str(run), "--seed", seed,
              *FAST)  # fmt: skip
    assert rows(a)[0]["train_loss"] == rows(b)[0]["train_loss"]
    assert rows(a)[0]["val_loss"] == rows(b)[0]["val_loss"]
    assert rows(a)[0]["train_loss"] != rows(c)[0]["train_loss"]


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(sample_export: Path, tmp_path: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    args = ["--data", str(sample_export), "--epochs", "3", *FAST]
    train(*args, "--out", str(full))
    proc = subprocess.Popen([sys.executable, "-m", "training", *args, "--out", str(part)], cwd=ROOT)
    try:
        wait_for(lambda: (part / "checkpoint.pt").exists() or proc.poll() is not None)
    finally:
        proc.kill()  # SIGKILL: as a dead worker would leave it
        proc.wait()
    assert not (part / "metrics.json").exists(), "the run finished before it could be killed"
    with (part / "metrics.jsonl").open("a") as fh:
        fh.write('{"epoch": 9, "torn')  # a half-written line
    out = train(*args, "--out", str(part), "--resume")
    assert "resumed from" in out.stdout
    got, want = rows(part), rows(full)
    assert [r["epoch"] for r in got] == [1, 2, 3]
    # Per-epoch reseeding makes the resumed epochs identical to an uninterrupted run's.
    for g, w in zip(got, want, strict=True):
        assert g["train_loss"] == pytest.approx(w["train_loss"], rel=1e-4)
    assert json.loads((part / "metrics.json").read_text())["top1"] == pytest.approx(
        json.loads((full / "metrics.json").read_text())["top1"]
    )


def test_a_run_killed_before_its_first_checkpoint_trains_epoch_one_once(
    sample_export: Path, tmp_path: Path
) -> None:
    # The kill lands between epoch 1's metrics row and its checkpoint: there is a row and no
    # checkpoint. The resumed run starts at epoch 1 and must not keep the dead run's row.
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "train_loss": 99.0}) + "\n")
    out = train("--data", str(sample_export), "--out", str(run), "--epochs", "2", *FAST,
                "--resume")  # fmt: skip
    assert "no checkpoint at" in out.stdout
    got = rows(run)
    assert [r["epoch"] for r in got] == [1, 2]
    assert got[0]["train_loss"] != 99.0
    assert [r["epoch"] for r in json.loads((run / "metrics.json").read_text())["history"]] == [1, 2]


def wait_for(pred, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- hostile exports -----------------------------------------------------------------------------


def test_missing_export_dir(tmp_path: Path) -> None:
    proc = train("--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r"), check=False)
    assert proc.returncode == 3
    assert "training: error: export directory" in proc.stderr and "does not exist" in proc.stderr


def test_directory_without_synsets(tmp_path: Path) -> None:
    proc = train("--data", str(tmp_path), "--out", str(tmp_path / "r"), check=False)
    assert proc.returncode == 3 and "synsets.txt does not exist" in proc.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not-a-wnid dog\n", "expected '<wnid> <lemma>'"),
        ("n01503061 bird\nn01503061 bird again\n", "listed twice"),
        ("\n\n", "no classes"),
    ],
)
def test_bad_synsets_txt(sample_export: Path, tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(sample_export, bad)
    (bad / "synsets.txt").write_text(content)
    proc = train("--data", str(bad), "--out", str(tmp_path / "r"), check=False)
    assert proc.returncode == 4, proc.stderr
    assert message in proc.stderr


def test_synsets_and_dataset_json_disagree(sample_export: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(sample_export, bad)
    lines = (bad / "synsets.txt").read_text().splitlines()
    (bad / "synsets.txt").write_text("\n".join(lines[:-1]) + "\n")
    proc = train("--data", str(bad), "--out", str(tmp_path / "r"), check=False)
    assert proc.returncode == 4 and "classes differ from synsets.txt" in proc.stderr


@pytest.mark.parametrize("fmt", ["imagefolder", "webdataset"])
def test_empty_val_split(sample_export: Path, tmp_path: Path, fmt: str) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(sample_export, bad)
    shutil.rmtree(bad / "imagefolder" / "val")
    (bad / "imagefolder" / "val").mkdir()
    for tar in (bad / "webdataset").glob("val-*.tar"):
        tar.unlink()
    proc = train("--data", str(bad), "--out", str(tmp_path / "r"), "--format", fmt, *FAST,
                 check=False)  # fmt: skip
    assert proc.returncode == 5, proc.stderr
    assert "split 'val'" in proc.stderr


def test_unknown_class_folder_and_missing_format(sample_export: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(sample_export, bad)
    (bad / "imagefolder" / "train" / "n99999999").mkdir()
    proc = train("--data", str(bad), "--out", str(tmp_path / "r"), "--format", "imagefolder",
                 check=False)  # fmt: skip
    assert proc.returncode == 4 and "n99999999" in proc.stderr
    shutil.rmtree(bad / "webdataset")
    proc = train("--data", str(bad), "--out", str(tmp_path / "r"), "--format", "webdataset",
                 check=False)  # fmt: skip
    assert proc.returncode == 3 and "no webdataset/ directory" in proc.stderr


def test_resume_from_a_checkpoint_of_another_run_is_refused(
    sample_export: Path, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    proc = train("--data", str(sample_export), "--out", str(tmp_path / "r"), "--resume",
                 str(bogus), *FAST, check=False)  # fmt: skip
    assert proc.returncode == 6 and "unreadable" in proc.stderr
    proc = train("--data", str(sample_export), "--out", str(tmp_path / "r"), "--resume",
                 str(tmp_path / "missing.pt"), *FAST, check=False)  # fmt: skip
    assert proc.returncode == 6 and "does not exist" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["imagefolder", "webdataset"])
def test_ddp_under_torchrun_on_cpu(sample_export: Path, tmp_path: Path, fmt: str) -> None:
    """Two processes (gloo): each trains on its share; rank 0 evaluates and writes the files."""
    run = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "training", "--data", str(sample_export), "--epochs", "1", "--out", str(run),
         "--format", fmt, *FAST],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "x2" in proc.stdout
    (row,) = rows(run)
    assert row["train_images"] == 32  # 16 per rank, summed
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["num_val"] == 16


def test_efficientnet_lite0_fine_tunes_from_the_offline_imagenet_weights() -> None:
    import torch

    from training.models import build_model, lite0_weights_path

    model = build_model("efficientnet_lite0", 4, pretrained=True)
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(model.state_dict()["_conv_stem.weight"], state["_conv_stem.weight"])
    assert model.state_dict()["_fc.weight"].shape == (4, 1280)  # a new classifier head


@pytest.mark.slow
def test_efficientnet_lite0_run(sample_export: Path, tmp_path: Path) -> None:
    run = tmp_path / "lite"
    train("--data", str(sample_export), "--epochs", "1", "--out", str(run), "--arch",
          "efficientnet_lite0", *FAST)  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["arch"] == "efficientnet_lite0" and metrics["embedding_dim"] == 1280
