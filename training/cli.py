"""`python -m training --data EXPORT_DIR --arch resnet18 --epochs 10 --out RUN_DIR`."""

from __future__ import annotations

import argparse
import os
import sys

from training.errors import TrainingError
from training.models import ARCHITECTURES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training",
        description="Train a classifier on a SynsetLab export (no Django, no database). "
        "Several GPUs: torchrun --nproc_per_node=N -m training ...",
    )
    p.add_argument("--data", required=True, help="export directory (the one with dataset.json)")
    p.add_argument("--arch", default="resnet18", choices=ARCHITECTURES)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", required=True, help="run directory: checkpoint.pt, metrics.jsonl/json")
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument(
        "--lr", type=float, default=None, help="default: 0.1 x batch/256 (0.01 fine-tuning)"
    )
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--resume", nargs="?", const="auto", default=None,
        help="resume from RUN_DIR/checkpoint.pt (if present) or from the given checkpoint",
    )  # fmt: skip
    p.add_argument("--format", default="auto", choices=("auto", "imagefolder", "webdataset"))
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--image-size", type=int, default=None, help="train/val crop (default: model's)")
    p.add_argument("--amp", default="auto", choices=("auto", "off", "bf16", "fp16"))
    p.add_argument(
        "--no-pretrained", dest="pretrained", action="store_false", default=None,
        help="efficientnet_lite0 from scratch instead of fine-tuning the ImageNet weights",
    )  # fmt: skip
    p.add_argument("--max-train-batches", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from training.loop import Config, Trainer

    cfg = Config(
        data=args.data, arch=args.arch, epochs=args.epochs, out=args.out,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, workers=max(0, args.workers), seed=args.seed,
        resume=args.resume, format=args.format, device=args.device, image_size=args.image_size,
        amp=args.amp, pretrained=args.pretrained, max_train_batches=args.max_train_batches,
    )  # fmt: skip
    try:
        Trainer(cfg).run()
    except TrainingError as exc:
        print(f"training: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("training: interrupted", file=sys.stderr, flush=True)
        return 130
    return 0
