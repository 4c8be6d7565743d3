"""Training throughput from an export: `python -m training` (our pipeline: export reader, augment,
loop, metrics, checkpoints) beside a plain torchvision ImageFolder + DataLoader loop with the same
model, batch, crop size, augmentation and worker count, in the same run. Reports images/s and
where an epoch's time goes (waiting for data vs compute), and the ratio ours / baseline.

On CUDA (a lent GPU) it adds ResNet-50, AMP + channels_last, from WebDataset shards, beside the
same model on synthetic on-GPU tensors (the compute ceiling)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import ROOT, WORK, table

CPU = {"arch": "resnet18", "image_size": 64, "batch_size": 32, "workers": 1, "epochs": 2}
GPU = {"arch": "resnet50", "image_size": 224, "batch_size": 256, "workers": 14, "batches": 80}


def build_export(dest: Path, *, max_side: int, copies: int = 1) -> Path:
    """All 10 sample synsets (37 images each, 5 per class in val), ImageFolder + WebDataset."""
    sys.path.insert(0, str(ROOT))
    from tests.training.export_fixture import make_export

    path = make_export(dest, name=dest.name, classes=10, per_class=37, val_per_class=5,
                       max_side=max_side, shard_size=256)  # fmt: skip
    if copies > 1:  # a bigger train set for GPU: the same pictures under new keys
        import webdataset as wds

        src = sorted((path / "webdataset").glob("train-*.tar"))
        samples = [s for url in src for s in wds.WebDataset(str(url), shardshuffle=False)]
        for tar in src:
            tar.unlink()
        with wds.ShardWriter(str(path / "webdataset" / "train-%06d.tar"), maxcount=2000,
                             verbose=0) as sink:  # fmt: skip
            for k in range(copies):
                for s in samples:
                    sink.write({**{x: s[x] for x in s if not x.startswith("__")},
                                "__key__": f"{s['__key__']}-{k}"})  # fmt: skip
        meta = json.loads((path / "dataset.json").read_text())
        for counts in meta["counts"].values():
            counts["train"] *= copies
        (path / "dataset.json").write_text(json.dumps(meta))
    return path


def ours(export: Path, fmt: str, out: Path, spec: dict[str, Any], extra: list[str]) -> dict:
    if out.exists():
        shutil.rmtree(out)
    cmd = [
        sys.executable, "-m", "training", "--data", str(export), "--arch", spec["arch"],
        "--epochs", str(spec.get("epochs", 1)), "--out", str(out), "--format", fmt,
        "--batch-size", str(spec["batch_size"]), "--workers", str(spec["workers"]),
        "--image-size", str(spec["image_size"]), "--seed", "0", *extra,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]  # the last epoch: workers and caches warm
    return {
        "images_per_s": last["images_per_s"], "seconds": last["seconds"],
        "data": last["data_seconds"], "compute": last["compute_seconds"],
        "images": last["train_images"],
    }  # fmt: skip


def baseline_main(argv: list[str]) -> None:
    """The plain loop: torchvision ImageFolder + DataLoader + the same model (one JSON line)."""
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--arch")
    p.add_argument("--image-size", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--epochs", type=int)
    a = p.parse_args(argv)
    import torch
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    torch.manual_seed(0)
    norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    ds = torchvision.datasets.ImageFolder(
        a.root, T.Compose([T.RandomResizedCrop(a.image_size), T.RandomHorizontalFlip(),
                           T.ToTensor(), norm]),
    )  # fmt: skip
    loader = DataLoader(ds, batch_size=a.batch_size, shuffle=True, num_workers=a.workers,
                        drop_last=True)  # fmt: skip
    model = getattr(torchvision.models, a.arch)(weights=None, num_classes=len(ds.classes))
    opt = torch.optim.SGD(model.parameters(), lr=0.0125, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _epoch in range(a.epochs):
        model.train()
        data = compute = 0.0
        seen = 0
        start = mark = time.perf_counter()
        for x, y in loader:
            got = time.perf_counter()
            data += got - mark
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
            mark = time.perf_counter()
            compute += mark - got
        seconds = time.perf_counter() - start
    print(json.dumps({"images_per_s": seen / seconds, "seconds": seconds, "data": data,
                      "compute": compute, "images": seen}))  # fmt: skip


def baseline(export: Path, spec: dict[str, Any]) -> dict:
    cmd = [
        sys.executable, "-m", "bench.bench_training",
        "--baseline", str(export / "imagefolder" / "train"),
        "--arch", spec["arch"], "--image-size", str(spec["image_size"]),
        "--batch-size", str(spec["batch_size"]), "--workers", str(spec["workers"]),
        "--epochs", str(spec["epochs"]),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gpu_compute_ceiling(spec: dict[str, Any]) -> float:
    """ResNet-50 AMP channels_last on synthetic on-GPU tensors: images/s with no data loading."""
    import torch

    from training.models import build_model

    model = build_model(spec["arch"], 10).cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(spec["batch_size"], 3, spec["image_size"], spec["image_size"], device="cuda")
    x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (spec["batch_size"],), device="cuda")
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    torch.backends.cudnn.benchmark = True
    for i in range(20 + spec["batches"]):
        if i == 20:
            torch.cuda.synchronize()
            start = time.perf_counter()
        with torch.autocast("cuda", dtype=dtype):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return spec["batches"] * spec["batch_size"] / (time.perf_counter() - start)


def _row(name: str, r: dict, base: dict | None) -> list[str]:
    share = 100 * r["data"] / max(r["seconds"], 1e-9)
    split = f"{r['data']:.1f} s / {r['compute']:.1f} s ({share:.0f}% waiting for data)"
    ratio = f"{r['images_per_s'] / base['images_per_s']:.2f}x" if base else "1.00x (baseline)"
    return [
        name,
        f"{r['images']:,}",
        f"**{r['images_per_s']:.1f}**",
        f"{r['seconds']:.1f} s",
        split,
        ratio,
    ]


def run() -> tuple[str, str]:
    import os

    import torch

    WORK.mkdir(parents=True, exist_ok=True)
    export = build_export(WORK / "train-export", max_side=128)
    spec = CPU
    b = baseline(export, spec)
    rows = [_row("baseline: torchvision ImageFolder + DataLoader loop", b, None)]
    for fmt in ("imagefolder", "webdataset"):
        r = ours(export, fmt, WORK / f"train-run-{fmt}", spec, [])
        rows.append(_row(f"ours: python -m training ({fmt})", r, b))
    load = os.getloadavg()[0]
    counts = json.loads((export / "dataset.json").read_text())["counts"].values()
    n_train, n_val = sum(c["train"] for c in counts), sum(c["val"] for c in counts)
    body = (
        f"`{spec['arch']}` from scratch at {spec['image_size']} px, batch {spec['batch_size']}, "
        f"{spec['workers']} loader worker, CPU ({torch.get_num_threads()} torch threads), "
        f"the sample export (10 classes, {n_train} train / {n_val} val images, <= 128 px); "
        f"figures from the last of {spec['epochs']} epochs. Ours also evaluates on val and "
        f"writes a checkpoint every epoch (not counted in images/s, as in the baseline). "
        f"Data / compute = time the loop waited for the next batch / spent in "
        f"forward+backward+step. "
        f"2 cores, shared and loaded by parallel work (load average {load:.1f} at the end): "
        f"compare ratios, not absolute figures.\n\n"
        + table(
            ["pipeline", "train images", "images/s", "epoch", "data / compute", "ours / baseline"],
            rows,
        )
    )
    if torch.cuda.is_available():
        gexport = build_export(WORK / "train-export-gpu", max_side=320, copies=60)
        g = ours(gexport, "webdataset", WORK / "train-run-gpu", {**GPU, "epochs": 1},
                 ["--amp", "auto", "--max-train-batches", str(GPU["batches"])])  # fmt: skip
        ceiling = gpu_compute_ceiling(GPU)
        body += (
            f"\n\nGPU ({torch.cuda.get_device_name(0)}): ResNet-50, AMP, channels_last, batch "
            f"{GPU['batch_size']}, {GPU['workers']} loader workers, WebDataset shards, "
            f"{GPU['batches']} batches (first epoch, cudnn warm-up included).\n\n"
            + table(
                ["pipeline", "images/s", "data / compute", "of compute ceiling", "target"],
                [
                    [
                        "ours: python -m training (webdataset)",
                        f"**{g['images_per_s']:.0f}**",
                        f"{g['data']:.1f} s / {g['compute']:.1f} s",
                        f"{g['images_per_s'] / ceiling:.0%}",
                        ">= 2,500 img/s",
                    ],
                    [
                        "compute ceiling: synthetic tensors on the GPU",
                        f"{ceiling:.0f}",
                        "0 / all",
                        "100%",
                        "",
                    ],
                ],
            ),
        )
    else:
        body += (
            "\n\nH100 ResNet-50, AMP + channels_last, from WebDataset shards (target >= 2,500 "
            "images/s): **not measured: no GPU lent to this task** (the code path runs when "
            "`torch.cuda.is_available()`: `python -m bench bench_training`)."
        )
    return "Training throughput from an export (bench_training)", body


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--baseline":
        baseline_main(sys.argv[2:])
    else:
        print(run()[1])
