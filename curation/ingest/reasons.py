"""Why an item was not ingested: a stable reason code and a human message per bad item."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # reading
    EMPTY_FILE = "empty_file"
    FILE_TOO_LARGE = "file_too_large"
    READ_ERROR = "read_error"
    BAD_NAME = "bad_name"
    # decoding
    NOT_AN_IMAGE = "not_an_image"
    VECTOR_IMAGE = "vector_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    DECOMPRESSION_BOMB = "decompression_bomb"
    TOO_SMALL = "too_small"
    # where it belongs
    UNKNOWN_SYNSET = "unknown_synset"
    NO_SYNSET = "no_synset"
    BAD_LINE = "bad_line"
    # archives and paths
    UNSAFE_PATH = "unsafe_path"
    LINK_ENTRY = "link_entry"
    SPECIAL_ENTRY = "special_entry"
    ARCHIVE_BOMB = "archive_bomb"
    ARCHIVE_ERROR = "archive_error"
    # URLs
    URL_SCHEME = "url_scheme"
    URL_BLOCKED = "url_blocked"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    CONNECTION_ERROR = "connection_error"
    # storing
    DISK_FULL = "disk_full"
    STORAGE_ERROR = "storage_error"


REASON_LABELS: dict[str, str] = {
    Reason.DISK_FULL: "storage full (no space left)",
    Reason.STORAGE_ERROR: "could not be stored",
    Reason.EMPTY_FILE: "empty file",
    Reason.FILE_TOO_LARGE: "file over the byte limit",
    Reason.READ_ERROR: "could not be read",
    Reason.BAD_NAME: "name not valid UTF-8",
    Reason.NOT_AN_IMAGE: "not an image",
    Reason.VECTOR_IMAGE: "vector image (SVG)",
    Reason.UNSUPPORTED_FORMAT: "unsupported format",
    Reason.TRUNCATED: "truncated",
    Reason.CORRUPT: "corrupt",
    Reason.DECOMPRESSION_BOMB: "decompression bomb",
    Reason.TOO_SMALL: "too small",
    Reason.UNKNOWN_SYNSET: "unknown synset",
    Reason.NO_SYNSET: "no synset given",
    Reason.BAD_LINE: "unreadable line",
    Reason.UNSAFE_PATH: "unsafe path",
    Reason.LINK_ENTRY: "link entry",
    Reason.SPECIAL_ENTRY: "device or special entry",
    Reason.ARCHIVE_BOMB: "archive bomb",
    Reason.ARCHIVE_ERROR: "broken archive",
    Reason.URL_SCHEME: "not an http(s) URL",
    Reason.URL_BLOCKED: "address refused",
    Reason.HTTP_ERROR: "HTTP error",
    Reason.TIMEOUT: "timed out",
    Reason.TOO_MANY_REDIRECTS: "too many redirects",
    Reason.CONNECTION_ERROR: "connection failed",
}


class IngestError(Exception):
    """One item failed for `reason`; `message` says what a person should know."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"IngestError({self.reason.value!r}, {self.message!r})"


def db_safe_text(text: str) -> bool:
    """True if `text` can be stored in a text column (UTF-8 encodable, no NUL)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str, limit: int = 200) -> str:
    """`text` with control characters and undecodable bytes escaped, for messages."""
    escaped = text.encode("utf-8", "backslashreplace").decode("utf-8")
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in escaped)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"
