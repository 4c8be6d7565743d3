"""One inference code path for every registered model: CUDA (bf16 autocast, channels_last, pinned
memory, non-blocking copies) when a GPU is present, CPU otherwise. On a CPU with native bf16
(AVX512-BF16 / AMX) autocast to bf16 is on too: about 3x the images per CPU-second of fp32 for
EfficientNet-Lite0, probabilities within 0.005 (PRELABEL_CPU_BF16=0 turns it off).

A predictor takes uint8 NCHW batches and returns class probabilities and L2-normalised
penultimate-layer embeddings (float32 numpy). Loaded models are cached per process, keyed by the
artifact's id and weights, so a worker loads a model once, not once per chunk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from training.models import (
    Preprocessing,
    build_model,
    forward_features,
    load_for_inference,
    preprocessing_for,
)

_CACHE: dict[tuple[int, str], Predictor] = {}

# On a CPU the model runs the loader's batches in slices of this many images: a batch of 64
# spills EfficientNet-Lite0's activations (~100 MB a layer) out of the caches. Measured on the
# 2-core AVX2 EPYC, fp32, images/s by slice: 1 thread 29 / 33 / 25 / 15 at 1 / 4 / 8 / 64;
# 2 threads 47 / 80 / 53 / 27.
CPU_SLICE = int(os.environ.get("PRELABEL_CPU_SLICE", "4"))


def pick_device() -> torch.device:
    forced = os.environ.get("PRELABEL_DEVICE")
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def threads_for(cpus: int, busy_cores: float) -> int:
    """Torch threads for the cores other work leaves idle (at least 1, at most all)."""
    return max(1, min(cpus, int(cpus - busy_cores + 0.5)))


def configure_threads() -> None:
    """CPU inference threads: PRELABEL_TORCH_THREADS, else the cores idle right now (sampled
    for 0.2 s before each chunk). Torch's threads meet at a barrier after every layer, so one
    thread on a core that other work wants stalls them all. On the 2-core AVX2 EPYC (slices of
    4, one decoding worker): 2 threads gave 40.0 images/s on a quiet machine but 15.5 beside
    one busy core, where 1 thread gave 30.2."""
    import psutil

    from worker.ml.loading import allowed_cpu_ids

    wanted = int(os.environ.get("PRELABEL_TORCH_THREADS", "0"))
    if not wanted:
        ours = allowed_cpu_ids()  # busy cores outside our affinity leave ours alone
        per_cpu = psutil.cpu_percent(interval=0.2, percpu=True)
        busy = sum(per_cpu[i] for i in ours if i < len(per_cpu)) / 100
        wanted = threads_for(len(ours), busy)
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def cpu_bf16() -> bool:
    """bf16 autocast on this CPU: native bf16 instructions, unless PRELABEL_CPU_BF16=0/1 says."""
    forced = os.environ.get("PRELABEL_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and bool(
            getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
            or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
        )
    except (AttributeError, RuntimeError):
        return False


@dataclass
class Predictor:
    model: torch.nn.Module
    classes: list[str]
    prep: Preprocessing
    device: torch.device

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def bf16(self) -> bool:
        if self.cuda:
            return True
        return cpu_bf16()

    def predict(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [n, 3, H, W] -> (probabilities [n, classes], unit embeddings [n, d])."""
        if self.cuda or len(batch) <= CPU_SLICE or CPU_SLICE <= 0:
            return self._predict(batch)
        parts = [self._predict(batch[i : i + CPU_SLICE]) for i in range(0, len(batch), CPU_SLICE)]
        return np.concatenate([p for p, _ in parts]), np.concatenate([e for _, e in parts])

    def _predict(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        mean = torch.tensor(self.prep.mean, device=self.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(self.prep.std, device=self.device).view(1, 3, 1, 1) * 255
        with torch.inference_mode():
            x = batch.to(self.device, non_blocking=self.cuda)
            x = ((x.float() - mean) / std).contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits, emb = forward_features(self.model, x)
            probs = torch.softmax(logits.float(), dim=1)
            emb = torch.nn.functional.normalize(emb.float(), dim=1)
            return probs.cpu().numpy(), emb.cpu().numpy()


def _load(artifact: Any, device: torch.device) -> Predictor:
    weights: str = artifact.weights
    if weights.startswith("pkg:") or not weights:
        model = build_model(artifact.architecture, len(artifact.classes), pretrained=True)
        prep = preprocessing_for(artifact.architecture)
        if artifact.mean and artifact.std:
            prep = Preprocessing(
                artifact.input_size, prep.resize, tuple(artifact.mean), tuple(artifact.std)
            )
        classes = list(artifact.classes)
    else:
        path = weights
        if not os.path.isabs(path):
            from django.conf import settings

            path = os.path.join(settings.DATA_ROOT, path)
        model, classes, prep = load_for_inference(path)
        if artifact.classes and list(artifact.classes) != classes:
            raise ValueError(f"{artifact.name}: checkpoint classes differ from the registry's")
    model = model.eval().to(device).to(memory_format=torch.channels_last)
    return Predictor(model=model, classes=classes, prep=prep, device=device)


def predictor_for(artifact: Any) -> Predictor:
    key = (int(artifact.pk), str(artifact.weights))
    if key not in _CACHE:
        _CACHE.clear()  # one model per worker process at a time
        _CACHE[key] = _load(artifact, pick_device())
    return _CACHE[key]
