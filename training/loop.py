"""The train/evaluate loop: AMP + channels_last on CUDA, DDP under torchrun, resumable, seeded.

Writes RUN_DIR/metrics.jsonl (one line per epoch), RUN_DIR/checkpoint.pt after every epoch and
RUN_DIR/metrics.json at the end. Pure torch: no Django.
"""

from __future__ import annotations

import json
import os
import random
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.data import ExportInfo, choose_format, make_loaders, read_export
from training.errors import CheckpointInvalid, EmptySplit, TrainingError
from training.evaluate import summarize
from training.models import (
    EMBEDDING_DIMS,
    _unwrap,
    build_model,
    preprocessing_for,
    save_checkpoint,
)

CHECKPOINT = "checkpoint.pt"


@dataclass
class Config:
    data: str
    arch: str = "resnet18"
    epochs: int = 10
    out: str = "run"
    batch_size: int = 64
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    workers: int = 2
    seed: int = 0
    resume: str | None = None  # None: fresh; "auto": RUN_DIR/checkpoint.pt if present; or a path
    format: str = "auto"
    device: str = "auto"
    image_size: int | None = None
    amp: str = "auto"  # auto | off | bf16 | fp16
    pretrained: bool | None = None  # default: True for efficientnet_lite0 (fine-tuning)
    max_train_batches: int | None = None  # benchmarks: stop an epoch early


def log(msg: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:
        print(msg, flush=True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def _device(cfg: Config, local_rank: int) -> torch.device:
    if cfg.device != "auto":
        dev = torch.device(cfg.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise TrainingError("--device cuda asked for, but CUDA is not available")
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", local_rank)
        return dev
    return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")


def _amp_dtype(cfg: Config, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or cfg.amp == "off":
        return None
    if cfg.amp == "fp16":
        return torch.float16
    if cfg.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _history_upto(path: Path, epoch: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a torn last line from a killed run
            if isinstance(row, dict) and int(row.get("epoch", 0)) <= epoch:
                rows.append(row)
    return rows


class Trainer:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.out = Path(cfg.out)
        self.info: ExportInfo = read_export(cfg.data)
        self.fmt = choose_format(self.info, cfg.format)
        if cfg.epochs < 1:
            raise TrainingError("--epochs must be at least 1")
        if cfg.batch_size < 1:
            raise TrainingError("--batch-size must be at least 1")
        self.device = _device(cfg, self.local_rank)
        self.amp_dtype = _amp_dtype(cfg, self.device)
        self.cuda = self.device.type == "cuda"

    # -- setup -----------------------------------------------------------------------------------

    def setup(self) -> None:
        cfg = self.cfg
        if self.world_size > 1:
            import torch.distributed as dist

            if self.cuda:
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.cuda else "gloo")
        seed_everything(cfg.seed)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        else:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.out.mkdir(parents=True, exist_ok=True)
        n = len(self.info.classes)
        pretrained = (
            cfg.pretrained if cfg.pretrained is not None else cfg.arch == "efficientnet_lite0"
        )
        model = build_model(cfg.arch, n, pretrained=pretrained)
        model = model.to(self.device)
        if self.cuda:
            model = model.to(memory_format=torch.channels_last)
        self.model: nn.Module = model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.model = DDP(model, device_ids=[self.device.index] if self.cuda else None)
        base = 0.01 if pretrained else 0.1
        lr = cfg.lr if cfg.lr is not None else base * cfg.batch_size * self.world_size / 256
        self.lr = lr
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
        self.optimizer = torch.optim.SGD(
            [{"params": decay, "weight_decay": cfg.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=lr, momentum=cfg.momentum, nesterov=True,
        )  # fmt: skip
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, cfg.epochs)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.generator = torch.Generator()
        self.loaders = make_loaders(
            self.info, fmt=self.fmt, arch=cfg.arch, image_size=cfg.image_size,
            batch_size=cfg.batch_size, workers=cfg.workers, seed=cfg.seed,
            generator=self.generator, rank=self.rank, world_size=self.world_size,
            pin_memory=self.cuda,
        )  # fmt: skip
        self.start_epoch = 1
        self._maybe_resume()
        if self.rank == 0:
            # Rows past the checkpoint belong to epochs about to be trained again, including
            # epoch 1's row of a run killed before its first checkpoint was written.
            rows = _history_upto(self.out / "metrics.jsonl", self.start_epoch - 1)
            _write_atomic(self.out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))

    def _maybe_resume(self) -> None:
        cfg = self.cfg
        if not cfg.resume:
            return
        path = self.out / CHECKPOINT if cfg.resume == "auto" else Path(cfg.resume)
        if not path.exists():
            if cfg.resume == "auto":
                log(f"no checkpoint at {path}: starting from epoch 1")
                return
            raise CheckpointInvalid(f"checkpoint {path} does not exist")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise CheckpointInvalid(f"checkpoint {path} is unreadable: {exc}") from exc
        if not isinstance(ckpt, dict) or "model" not in ckpt:
            raise CheckpointInvalid(f"checkpoint {path} is not a SynsetLab checkpoint")
        if ckpt.get("arch") != cfg.arch or list(ckpt.get("classes", [])) != self.info.classes:
            raise CheckpointInvalid(
                f"checkpoint {path} is for {ckpt.get('arch')} with "
                f"{len(ckpt.get('classes', []))} classes; this run is {cfg.arch} with "
                f"{len(self.info.classes)} classes"
            )
        _unwrap(self.model).load_state_dict(ckpt["model"])
        if "optimizer" in ckpt:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        if "scheduler" in ckpt:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if "scaler" in ckpt and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.start_epoch = int(ckpt["epoch"]) + 1
        log(f"resumed from {path} at epoch {ckpt['epoch']}")

    # -- steps -----------------------------------------------------------------------------------

    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def _to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cuda:
            x = x.to(self.device, non_blocking=True, memory_format=torch.channels_last)
            return x, y.to(self.device, non_blocking=True)
        return x, y

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        seed = cfg.seed * 1_000_003 + epoch * 7919
        torch.manual_seed(seed + self.rank)
        random.seed(seed + self.rank)
        self.generator.manual_seed(seed + self.rank)
        if self.loaders.train_sampler is not None:
            self.loaders.train_sampler.set_epoch(epoch)
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        seen = 0
        data_s = compute_s = 0.0
        start = time.perf_counter()
        mark = start
        for step, (x, y, _keys, _paths) in enumerate(self.loaders.train):
            got = time.perf_counter()
            data_s += got - mark
            x, y = self._to_device(x, y)
            with self._autocast():
                loss = F.cross_entropy(self.model(x), y, label_smoothing=cfg.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            loss_sum += loss.detach().double() * y.shape[0]
            seen += int(y.shape[0])
            if self.cuda:
                torch.cuda.synchronize(self.device)
            mark = time.perf_counter()
            compute_s += mark - got
            if cfg.max_train_batches and step + 1 >= cfg.max_train_batches:
                break
        seconds = time.perf_counter() - start
        if seen == 0:
            raise EmptySplit("split 'train' yielded no images")
        stats = torch.tensor(
            [float(loss_sum), float(seen)], dtype=torch.float64, device=self.device
        )
        if self.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(stats)
        return {
            "train_loss": float(stats[0] / stats[1]),
            "train_images": int(stats[1]),
            "images_per_s": float(stats[1]) / max(seconds, 1e-9),
            "seconds": seconds,
            "data_seconds": data_s,
            "compute_seconds": compute_s,
        }

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        model = _unwrap(self.model)
        model.eval()
        n = len(self.info.classes)
        k = min(5, n)
        trues, preds, top5, confs, keys, paths = [], [], [], [], [], []
        loss_sum = 0.0
        for x, y, kk, pp in self.loaders.val:
            x, y = self._to_device(x, y)
            with self._autocast():
                logits = model(x)
            logits = logits.float()
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            prob = logits.softmax(1)
            conf, pred = prob.max(1)
            topk = logits.topk(k, 1).indices
            trues.append(y.cpu())
            preds.append(pred.cpu())
            confs.append(conf.cpu())
            top5.append((topk == y[:, None]).any(1).cpu())
            keys += kk
            paths += pp
        if not trues:
            raise EmptySplit("split 'val' yielded no images")
        y_true, y_pred = torch.cat(trues), torch.cat(preds)
        return {
            "val_loss": loss_sum / max(1, y_true.numel()),
            "y_true": y_true, "y_pred": y_pred, "top5_hit": torch.cat(top5),
            "confidence": torch.cat(confs), "keys": keys, "paths": paths,
        }  # fmt: skip

    # -- the run ---------------------------------------------------------------------------------

    def save(self, epoch: int) -> None:
        tmp = self.out / (CHECKPOINT + ".tmp")
        save_checkpoint(
            str(tmp), arch=self.cfg.arch, classes=self.info.classes, model=self.model,
            epoch=epoch, optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(), scaler=self.scaler.state_dict(),
            config=asdict(self.cfg), lemmas=self.info.lemmas,
        )  # fmt: skip
        os.replace(tmp, self.out / CHECKPOINT)

    def run(self) -> dict[str, Any]:
        self.setup()
        cfg = self.cfg
        log(
            f"training {cfg.arch} on {self.info.root} ({self.fmt}, "
            f"{len(self.info.classes)} classes,"
            f" train {self.loaders.train_len}, val {self.loaders.val_len}) on {self.device}"
            f"{' x' + str(self.world_size) if self.world_size > 1 else ''}"
            f" amp={self.amp_dtype} epochs {self.start_epoch}..{cfg.epochs}"
        )
        ev: dict[str, Any] | None = None
        for epoch in range(self.start_epoch, cfg.epochs + 1):
            lr = self.optimizer.param_groups[0]["lr"]
            tr = self.train_epoch(epoch)
            self.scheduler.step()
            if self.rank == 0:
                ev = self.evaluate()
                row = {
                    "epoch": epoch, "epochs": cfg.epochs,
                    "train_loss": round(tr["train_loss"], 6), "val_loss": round(ev["val_loss"], 6),
                    "top1": round(float((ev["y_true"] == ev["y_pred"]).float().mean()), 4),
                    "top5": round(float(ev["top5_hit"].float().mean()), 4),
                    "lr": lr, "images_per_s": round(tr["images_per_s"], 2),
                    "seconds": round(tr["seconds"], 3),
                    "data_seconds": round(tr["data_seconds"], 3),
                    "compute_seconds": round(tr["compute_seconds"], 3),
                    "train_images": tr["train_images"],
                }  # fmt: skip
                # Row first, then the checkpoint: a run killed in between resumes from the
                # previous checkpoint, drops this row and trains the epoch again.
                with (self.out / "metrics.jsonl").open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
                self.save(epoch)
                log(
                    f"epoch {epoch}/{cfg.epochs} train_loss {row['train_loss']:.4f} val_loss "
                    f"{row['val_loss']:.4f} top1 {row['top1']:.3f} top5 {row['top5']:.3f} "
                    f"{row['images_per_s']:.1f} img/s"
                )
            self._barrier()
        final: dict[str, Any] = {}
        if self.rank == 0:
            if ev is None:  # resumed a finished run: evaluate the checkpoint once more
                ev = self.evaluate()
            final = self._final_metrics(ev)
            _write_atomic(self.out / "metrics.json", json.dumps(final, indent=1))
            log(f"done: top1 {final['top1']:.4f} top5 {final['top5']:.4f} -> {self.out}")
        self._barrier()
        if self.world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
        return final

    def _barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def _final_metrics(self, ev: dict[str, Any]) -> dict[str, Any]:
        prep = preprocessing_for(self.cfg.arch)
        summary = summarize(
            classes=self.info.classes, lemmas=self.info.lemmas, y_true=ev["y_true"],
            y_pred=ev["y_pred"], top5_hit=ev["top5_hit"], confidence=ev["confidence"],
            keys=ev["keys"], paths=ev["paths"],
        )  # fmt: skip
        history = _history_upto(self.out / "metrics.jsonl", self.cfg.epochs)
        return {
            "arch": self.cfg.arch,
            "epochs": self.cfg.epochs,
            "classes": self.info.classes,
            "lemmas": self.info.lemmas,
            "export": str(self.info.root),
            "export_name": self.info.dataset.get("name", ""),
            "format": self.fmt,
            "checkpoint": str(self.out / CHECKPOINT),
            "val_loss": round(ev["val_loss"], 6),
            "preprocessing": {
                "input_size": prep.input_size,
                "resize": prep.resize,
                "mean": list(prep.mean),
                "std": list(prep.std),
                "train_image_size": self.cfg.image_size or prep.input_size,
            },
            "embedding_dim": EMBEDDING_DIMS[self.cfg.arch],
            "world_size": self.world_size,
            "device": str(self.device),
            "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off",
            "history": history,
            **summary,
        }
