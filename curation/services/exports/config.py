"""Export configuration: parse and validate a user's config into a normalized dict, with a
specific error per field, and resolve its classes (explicit synsets, or a subtree with leaf classes
or rolled up to chosen ancestors, ILSVRC-style) through the closure table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from curation.models import Candidate, DatasetVersion, Synset, SynsetClosure

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
WNID_RE = re.compile(r"^n[0-9]{8}$")
FORMATS = ("imagefolder", "webdataset", "jsonl")
MAX_PER_CLASS_LIMIT = 10_000_000
MAX_SYNSETS = 100_000
RESERVED_NAMES = {"new", "preview"}
MIN_SHARD_BYTES = 1 << 20
MAX_SHARD_BYTES = 1 << 40
DEFAULT_SHARD_BYTES = 256 << 20
DEFAULTS: dict[str, Any] = {
    "synsets": [],
    "subtree": None,
    "rollup": [],
    "include_hyponyms": False,
    "min_per_class": 1,
    "max_per_class": None,
    "val_per_class": None,
    "val_fraction": None,
    "test_per_class": None,
    "test_fraction": None,
    "formats": ["imagefolder", "jsonl"],
    "imagefolder_mode": "hardlink",
    "shard_max_bytes": DEFAULT_SHARD_BYTES,
    "duplicates": "representative",
    "multiclass": "exclude",
    "verify": "full",
}


class ExportConfigError(ValueError):
    """Bad export config: `errors` maps each field to its specific message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _int(value: Any, name: str, errors: dict[str, str], *, lo: int, hi: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors[name] = "must be a whole number"
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors[name] = "must be a whole number"
        return None
    if number < lo or number > hi:
        errors[name] = f"must be between {lo} and {hi:,} (got {number})"
        return None
    return number


def _fraction(value: Any, name: str, errors: dict[str, str]) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors[name] = "must be a number between 0 and 1"
        return None
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        errors[name] = "must be a number between 0 and 1"
        return None
    if not (0.0 <= number < 1.0):
        errors[name] = f"must be at least 0 and below 1 (got {value})"
        return None
    return number


def _wnids(value: Any, name: str, errors: dict[str, str]) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = re.split(r"[\s,]+", value.strip())
    if not isinstance(value, list | tuple):
        errors[name] = "must be a list of wnids"
        return []
    items = [str(v).strip() for v in value if str(v).strip()]
    if len(items) > MAX_SYNSETS:
        errors[name] = f"at most {MAX_SYNSETS:,} synsets"
        return []
    bad = [v for v in items if not WNID_RE.match(v)]
    if bad:
        errors[name] = f"not wnids (n + 8 digits): {', '.join(b[:20] for b in bad[:5])}"
        return []
    known = set(Synset.objects.filter(wnid__in=items).values_list("wnid", flat=True))
    unknown = [v for v in items if v not in known]
    if unknown:
        errors[name] = f"unknown synsets: {', '.join(unknown[:10])}"
        return []
    return sorted(set(items))


def _choice(value: Any, name: str, choices: tuple[str, ...], default: str, errors: dict) -> str:
    if value in (None, ""):
        return default
    if value not in choices:
        errors[name] = f"must be one of {', '.join(choices)}"
        return default
    return str(value)


def export_validate_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ExportConfigError(
            {
                "name": "1-100 characters: lower-case letters, digits, - and _, "
                "not starting with - or _"
            }
        )
    if name in RESERVED_NAMES:
        raise ExportConfigError({"name": f"{name!r} is reserved"})
    if DatasetVersion.objects.filter(name=name).exists():
        raise ExportConfigError({"name": f"the name {name!r} is taken: versions are immutable"})
    return name


def export_config_normalize(raw: Any) -> dict[str, Any]:
    """A validated, normalized config (every key present) or ExportConfigError."""
    if not isinstance(raw, dict):
        raise ExportConfigError({"config": "must be an object"})
    errors: dict[str, str] = {}
    unknown = sorted(set(raw) - set(DEFAULTS) - {"name", "seed"})
    if unknown:
        errors["config"] = f"unknown keys: {', '.join(k[:40] for k in unknown[:10])}"
    cfg: dict[str, Any] = dict(DEFAULTS)
    cfg["synsets"] = _wnids(raw.get("synsets"), "synsets", errors)
    subtree = _wnids(raw.get("subtree"), "subtree", errors)
    if len(subtree) > 1:
        errors["subtree"] = "one root wnid"
    cfg["subtree"] = subtree[0] if subtree else None
    cfg["rollup"] = _wnids(raw.get("rollup"), "rollup", errors)
    cfg["include_hyponyms"] = bool(raw.get("include_hyponyms", False))
    if cfg["synsets"] and cfg["subtree"]:
        errors["subtree"] = "give either synsets or a subtree, not both"
    if not (cfg["synsets"] or cfg["subtree"] or "synsets" in errors or "subtree" in errors):
        errors["synsets"] = "choose synsets or a subtree root"
    if cfg["rollup"] and not cfg["subtree"]:
        errors["rollup"] = "roll-up ancestors need a subtree root"
    if cfg["rollup"] and cfg["subtree"]:
        root = Synset.objects.get(wnid=cfg["subtree"])
        inside = set(
            SynsetClosure.objects.filter(
                ancestor=root, descendant__wnid__in=cfg["rollup"]
            ).values_list("descendant__wnid", flat=True)
        )
        outside = [w for w in cfg["rollup"] if w not in inside]
        if outside:
            errors["rollup"] = f"not under {cfg['subtree']}: {', '.join(outside[:10])}"
    cfg["min_per_class"] = _int(
        raw.get("min_per_class", 1), "min_per_class", errors, lo=0, hi=MAX_PER_CLASS_LIMIT
    )
    if cfg["min_per_class"] is None:
        cfg["min_per_class"] = 0
    cfg["max_per_class"] = _int(
        raw.get("max_per_class"), "max_per_class", errors, lo=1, hi=MAX_PER_CLASS_LIMIT
    )
    if (
        cfg["max_per_class"] is not None
        and cfg["min_per_class"] > cfg["max_per_class"]
        and "max_per_class" not in errors
    ):
        errors["max_per_class"] = "must be at least min_per_class"
    for kind in ("val", "test"):
        n = _int(raw.get(f"{kind}_per_class"), f"{kind}_per_class", errors, lo=0, hi=1_000_000)
        f = _fraction(raw.get(f"{kind}_fraction"), f"{kind}_fraction", errors)
        if n is not None and f is not None:
            errors[f"{kind}_fraction"] = f"give {kind}_per_class or {kind}_fraction, not both"
        cfg[f"{kind}_per_class"], cfg[f"{kind}_fraction"] = n, f
    if (
        cfg["val_per_class"] is None
        and cfg["val_fraction"] is None
        and not any(k in errors for k in ("val_per_class", "val_fraction"))
    ):
        cfg["val_per_class"] = 50
    if cfg["val_fraction"] is not None and cfg["test_per_class"] is not None:
        errors["test_per_class"] = "use test_fraction with val_fraction"
    if cfg["val_per_class"] is not None and cfg["test_fraction"] is not None:
        errors["test_fraction"] = "use test_per_class with val_per_class"
    if (cfg["val_fraction"] or 0) + (cfg["test_fraction"] or 0) >= 1:
        errors["test_fraction"] = "val_fraction + test_fraction must be below 1"
    formats = raw.get("formats", DEFAULTS["formats"])
    if isinstance(formats, str):
        formats = [f for f in re.split(r"[\s,]+", formats) if f]
    if not isinstance(formats, list | tuple) or not all(isinstance(f, str) for f in formats):
        errors["formats"] = "must be a list"
        formats = []
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        errors["formats"] = f"unknown formats {', '.join(b[:20] for b in bad[:5])}; known: " + (
            ", ".join(FORMATS)
        )
    cfg["formats"] = [f for f in FORMATS if f in formats or f == "jsonl"]
    cfg["imagefolder_mode"] = _choice(
        raw.get("imagefolder_mode"), "imagefolder_mode", ("hardlink", "copy"), "hardlink", errors
    )
    shard = _int(
        raw.get("shard_max_bytes", DEFAULT_SHARD_BYTES),
        "shard_max_bytes",
        errors,
        lo=MIN_SHARD_BYTES,
        hi=MAX_SHARD_BYTES,
    )
    cfg["shard_max_bytes"] = shard or DEFAULT_SHARD_BYTES
    cfg["duplicates"] = _choice(
        raw.get("duplicates"),
        "duplicates",
        ("representative", "keep_all"),
        "representative",
        errors,
    )
    cfg["multiclass"] = _choice(
        raw.get("multiclass"), "multiclass", ("exclude", "keep_once"), "exclude", errors
    )
    cfg["verify"] = _choice(raw.get("verify"), "verify", ("full", "manifests"), "full", errors)
    if errors:
        raise ExportConfigError(errors)
    return cfg


def export_validate_seed(seed: Any) -> int:
    errors: dict[str, str] = {}
    value = _int(seed if seed is not None else 0, "seed", errors, lo=0, hi=2**63 - 1)
    if errors:
        raise ExportConfigError(errors)
    return value or 0


@dataclass
class ClassPlan:
    """Classes (sorted by wnid; index = position) and which synset ids feed which classes."""

    wnids: list[str]
    lemmas: list[str]
    feeds: dict[int, list[int]] = field(default_factory=dict)  # synset id -> class positions


def export_classes(cfg: dict[str, Any]) -> ClassPlan:
    """Resolve the config's classes (before min/max filtering)."""
    if cfg["synsets"]:
        chosen = list(Synset.objects.filter(wnid__in=cfg["synsets"]).order_by("wnid"))
        plan = ClassPlan([s.wnid for s in chosen], [s.lemma for s in chosen])
        for i, s in enumerate(chosen):
            plan.feeds.setdefault(s.pk, []).append(i)
        if cfg["include_hyponyms"]:
            pairs = SynsetClosure.objects.filter(
                ancestor__in=[s.pk for s in chosen], distance__gt=0
            ).values_list("ancestor_id", "descendant_id")
            index = {s.pk: i for i, s in enumerate(chosen)}
            for anc, desc in pairs.iterator(chunk_size=20_000):
                plan.feeds.setdefault(desc, []).append(index[anc])
        return plan
    root = Synset.objects.get(wnid=cfg["subtree"])
    if cfg["rollup"]:
        chosen = list(Synset.objects.filter(wnid__in=cfg["rollup"]).order_by("wnid"))
        plan = ClassPlan([s.wnid for s in chosen], [s.lemma for s in chosen])
        index = {s.pk: i for i, s in enumerate(chosen)}
        pairs = SynsetClosure.objects.filter(ancestor__in=list(index)).values_list(
            "ancestor_id", "descendant_id"
        )
        for anc, desc in pairs.iterator(chunk_size=20_000):
            plan.feeds.setdefault(desc, []).append(index[anc])
        return plan
    # Leaf classes: every synset under the root that has accepted candidates is a class.
    under = SynsetClosure.objects.filter(ancestor=root).values("descendant_id")
    with_images = (
        Synset.objects.filter(
            pk__in=Candidate.objects.filter(
                synset_id__in=under, state=Candidate.State.ACCEPTED
            ).values("synset_id")
        )
        .order_by("wnid")
        .only("pk", "wnid", "lemmas", "name")
    )
    chosen = list(with_images)
    plan = ClassPlan([s.wnid for s in chosen], [s.lemma for s in chosen])
    plan.feeds = {s.pk: [i] for i, s in enumerate(chosen)}
    return plan
