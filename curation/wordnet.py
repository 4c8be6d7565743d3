"""Reading WordNet 3.0 nouns through NLTK and deriving the DAG's depth and closure (no database).

NLTK reads WordNet from an NLTK data dir. Users who have `nltk_data` get it from there; otherwise a
WordNet dict directory (Debian's /usr/share/wordnet from `wordnet-base` + `wordnet-sense-index`) is
staged into our own NLTK data dir, since NLTK 3.10 refuses paths outside its data roots and needs a
`lexnames` file the Debian packages do not ship.
"""

from __future__ import annotations

import shutil
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

WORDNET_VERSION = "3.0"
ROOT_WNID = "n00001740"  # entity.n.01

HOW_TO_GET_WORDNET = (
    "WordNet 3.0 was not found. Get it with one of:\n"
    "  apt-get install wordnet-base wordnet-sense-index   (Debian/Ubuntu: /usr/share/wordnet)\n"
    "  python -m nltk.downloader wordnet                   (needs internet; goes to ~/nltk_data)\n"
    "then run again, or pass --wordnet-dir DIR (a WordNet dict dir or an nltk_data dir)."
)

# WordNet's lexicographer file names (the `lexnames` file of the WordNet distribution).
LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
_POS_NUMBER = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
_DICT_FILES = ("data.noun", "index.noun")


class WordNetNotFound(Exception):
    pass


@dataclass
class SynsetRecord:
    wnid: str
    name: str
    lemmas: list[str]
    gloss: str
    examples: list[str]
    lexname: str


@dataclass
class WordNetNouns:
    version: str
    synsets: list[SynsetRecord]
    edges: list[tuple[str, str, str]]  # (parent wnid, child wnid, "hypernym"|"instance")
    source: str = ""
    depth: dict[str, int] = field(default_factory=dict)


def wnid_for_offset(offset: int) -> str:
    return f"n{offset:08d}"


def _is_dict_dir(path: Path) -> bool:
    return all((path / name).is_file() for name in _DICT_FILES)


def _stage_dict_dir(dict_dir: Path, nltk_root: Path) -> Path:
    """Copy a WordNet dict directory into `nltk_root/corpora/wordnet` (+ lexnames)."""
    target = nltk_root / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for src in dict_dir.iterdir():
        if not src.is_file():
            continue
        dst = target / src.name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
    lexnames = target / "lexnames"
    if not lexnames.exists():
        lines = [
            f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n"
            for i, name in enumerate(LEXNAMES)
        ]
        lexnames.write_text("".join(lines))
    return nltk_root


def locate_wordnet(wordnet_dir: str | None, staging_root: Path, default_dict_dir: str) -> Path:
    """Return an NLTK data root holding corpora/wordnet, staging a dict dir if needed."""
    import nltk

    if wordnet_dir:
        path = Path(wordnet_dir).expanduser()
        if _is_dict_dir(path):
            return _stage_dict_dir(path, staging_root)
        for root in (path, path.parent.parent):
            if (root / "corpora" / "wordnet").is_dir() or (
                root / "corpora" / "wordnet.zip"
            ).is_file():
                return root
        raise WordNetNotFound(
            f"{path} is neither a WordNet dict directory (with data.noun, index.noun) "
            f"nor an nltk_data directory (with corpora/wordnet).\n{HOW_TO_GET_WORDNET}"
        )
    try:
        found = nltk.data.find("corpora/wordnet")
        return Path(str(found)).parent.parent if found else staging_root
    except LookupError:
        pass
    staged = staging_root / "corpora" / "wordnet"
    if _is_dict_dir(staged):
        return staging_root
    if _is_dict_dir(Path(default_dict_dir)):
        return _stage_dict_dir(Path(default_dict_dir), staging_root)
    raise WordNetNotFound(HOW_TO_GET_WORDNET)


def read_nouns(nltk_root: Path) -> WordNetNouns:
    """Every noun synset with lemmas, gloss and hypernym + instance-hypernym edges."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = str(nltk_root)
    if root not in nltk.data.path:
        nltk.data.path.insert(0, root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        reader = WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)
    version = reader.get_version()
    if version != WORDNET_VERSION:
        raise WordNetNotFound(
            f"found WordNet {version} in {root}, but SynsetLab needs WordNet {WORDNET_VERSION} "
            f"(ImageNet wnids are WordNet 3.0 offsets).\n{HOW_TO_GET_WORDNET}"
        )
    synsets: list[SynsetRecord] = []
    edges: list[tuple[str, str, str]] = []
    for s in reader.all_synsets("n"):
        wnid = wnid_for_offset(s.offset())
        synsets.append(
            SynsetRecord(
                wnid=wnid,
                name=s.name(),
                lemmas=list(s.lemma_names()),
                gloss=s.definition() or "",
                examples=list(s.examples()),
                lexname=s.lexname(),
            )
        )
        for parent in s.hypernyms():
            edges.append((wnid_for_offset(parent.offset()), wnid, "hypernym"))
        for parent in s.instance_hypernyms():
            edges.append((wnid_for_offset(parent.offset()), wnid, "instance"))
    return WordNetNouns(version=version, synsets=synsets, edges=edges, source=root)


@dataclass
class Closure:
    """Closure pairs as parallel arrays (self-pairs included, distance 0)."""

    ancestor: np.ndarray  # int64 indices into the synset list
    descendant: np.ndarray
    distance: np.ndarray
    depth: np.ndarray  # shortest distance to the root, per synset
    descendant_count: np.ndarray
    child_count: np.ndarray


def compute_closure(n: int, edges: list[tuple[int, int]]) -> Closure:
    """Transitive closure of a DAG with shortest distances, in topological order."""
    parents: list[list[int]] = [[] for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]
    for parent, child in edges:
        parents[child].append(parent)
        children[parent].append(child)
    indegree = [len(p) for p in parents]
    queue = deque(i for i in range(n) if indegree[i] == 0)
    ancestors: list[dict[int, int]] = [{} for _ in range(n)]
    order = 0
    while queue:
        node = queue.popleft()
        order += 1
        mine = ancestors[node]
        for parent in parents[node]:
            if mine.get(parent, 1 << 30) > 1:
                mine[parent] = 1
            for anc, dist in ancestors[parent].items():
                if dist + 1 < mine.get(anc, 1 << 30):
                    mine[anc] = dist + 1
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    if order != n:
        raise ValueError("the hypernym graph has a cycle")
    total = n + sum(len(a) for a in ancestors)
    anc_arr = np.empty(total, dtype=np.int64)
    desc_arr = np.empty(total, dtype=np.int64)
    dist_arr = np.empty(total, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    pos = 0
    for node in range(n):
        anc_arr[pos], desc_arr[pos], dist_arr[pos] = node, node, 0
        pos += 1
        items = ancestors[node]
        k = len(items)
        if k:
            anc_arr[pos : pos + k] = np.fromiter(items.keys(), dtype=np.int64, count=k)
            dist_arr[pos : pos + k] = np.fromiter(items.values(), dtype=np.int64, count=k)
            desc_arr[pos : pos + k] = node
            roots = [dist for anc, dist in items.items() if not parents[anc]]
            depth[node] = min(roots)
            pos += k
    descendant_count = np.bincount(anc_arr, minlength=n) - 1
    child_count = np.array([len(c) for c in children], dtype=np.int64)
    return Closure(anc_arr, desc_arr, dist_arr, depth, descendant_count, child_count)
