"""What every source enumerator yields: one entry per candidate item (or per refused item)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from curation.ingest.reasons import Reason, db_safe_text, printable

WNID_RE = re.compile(r"^n\d{8}$")
SYNSET_NAME_RE = re.compile(r"^.+\.n\.\d{2}$")
# ImageNet's own image ids (n02084071_1234) name their synset.
IMAGENET_ID_RE = re.compile(r"^(n\d{8})_\d+$")
# Files that operating systems and archivers leave behind; never candidates, never errors.
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}


@dataclass
class Entry:
    """One item of a source. `uri` is exactly as the source names it (relative path or URL)."""

    uri: str
    path: str = ""  # the local file to read; empty for URLs
    url: str = ""  # the URL to fetch; empty for local files
    synset_key: str | None = None  # a wnid or synset name from the source; None: use --synset
    query: str = ""
    error: tuple[Reason, str] | None = None


def is_junk(name: str) -> bool:
    """Hidden and system files; '..' is not junk but a traversal, refused elsewhere."""
    return name in JUNK_NAMES or (name.startswith(".") and name not in (".", ".."))


def looks_like_synset(key: str) -> bool:
    return bool(WNID_RE.match(key) or SYNSET_NAME_RE.match(key))


def folder_synset_key(parts: list[str]) -> str | None:
    """The synset a file belongs to, named by its folders: the first folder that looks like a
    wnid or synset name (so `wrapper/n02084071/x.jpg` works), else its own folder (which the
    caller will fail to resolve, with close matches), else None (the file is in no folder)."""
    folders = parts[:-1]
    if not folders:
        return None
    for folder in folders:
        if looks_like_synset(folder):
            return folder
    return folders[-1]


NO_SYNSET_MESSAGE = (
    "not inside a synset folder; name the synset (--synset) or put the file in a folder "
    "named by wnid (n02084071) or synset name (dog.n.01)"
)


def safe_uri(text: str) -> tuple[str, tuple[Reason, str] | None]:
    """A uri that can be stored; names that are not UTF-8 become an escaped uri and an error."""
    if db_safe_text(text):
        return text, None
    shown = printable(text, limit=1000)
    return shown, (Reason.BAD_NAME, f"name is not valid UTF-8 text: {shown}")
