"""The inbox folder: which files wait there, and where they go after an import.

Nothing here reads a file's content beyond its SHA-256; see :mod:`extractors.inbox` for the
layout users see.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Kinds with one sub-folder per channel/source, and kinds whose files sit directly in the folder.
FOLDER_KINDS = ("orders", "events", "reviews")
FLAT_KINDS = ("product_costs", "fx_rates", "sku_mappings")
KINDS = FOLDER_KINDS + FLAT_KINDS
# The lake entity each kind lands in (fx_rates in channel ``reference``, the others in ``files``).
KIND_ENTITY = {
    "orders": "order_lines",
    "events": "events",
    "reviews": "reviews",
    "product_costs": "product_costs",
    "fx_rates": "fx_rates",
    "sku_mappings": "sku_mappings",
}
FLAT_CONNECTION = "inbox"  # the lake connection of files without a sub-folder
MAPPING_NAMES = ("mapping.yml", "mapping.yaml")
ARCHIVE, QUARANTINE = "archive", "quarantine"
REASON_SUFFIX = ".reason.txt"
# Suffixes of files that are still being written (browsers, rsync, editors, our own writers).
WRITING_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp")
MIN_AGE_SECONDS = 2.0
# A modification time this far ahead of the clock is not a copy in progress but another clock
# (a share's, a device's, a preserved timestamp): the file is taken as complete rather than
# held until that time comes. Less far ahead, it is held as any file changed just now.
MAX_FUTURE_MTIME_SECONDS = 3600.0


@dataclass(frozen=True)
class PendingFile:
    """A file waiting in the inbox.

    ``kind`` is the top folder (``orders``, ``events``, ``product_costs``, ``fx_rates``,
    ``sku_mappings``); ``folder`` the channel/source sub-folder of ``orders``/``events`` (None
    for the other kinds, and for a file put directly into ``orders/`` or ``events/``, which the
    import refuses). ``sha256`` fingerprints the content, ``mapping_sha256`` the folder's
    ``mapping.yml`` at scan time (None without one).
    """

    kind: str
    folder: str | None
    path: Path
    size: int
    mtime: float
    sha256: str
    mapping_sha256: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def relative(self) -> str:
        """The file's place in the inbox, e.g. ``orders/etsy/sold-items.csv``."""
        parts = [self.kind, *([self.folder] if self.folder else []), self.name]
        return "/".join(parts)

    @property
    def entity(self) -> str:
        """The lake entity the file lands in."""
        return KIND_ENTITY[self.kind]

    @property
    def connection(self) -> str:
        """The lake connection: the sub-folder, or ``inbox`` for folder-less kinds."""
        return self.folder or FLAT_CONNECTION

    @property
    def digest(self) -> str:
        """The first 16 hex digits of the content's SHA-256 (the lake part's name)."""
        return self.sha256[:16]

    @property
    def run_key(self) -> str:
        """A stable key for "this file, as it is now": the path, the content and mapping
        fingerprints and the modification time. Dropping the same file again (a new mtime) or
        fixing the folder's mapping.yml gives a new key, so a refused file is retried; the import
        of identical content is idempotent, so a repeated run does no harm."""
        mapping = (self.mapping_sha256 or "none")[:8]
        return f"{self.relative}@{self.digest}:{mapping}:{int(self.mtime * 1000)}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mapping_file(folder: Path) -> Path | None:
    for name in MAPPING_NAMES:
        path = folder / name
        if path.is_file():
            return path
    return None


def _ignored(path: Path) -> bool:
    name = path.name
    lower = name.lower()
    return (
        name.startswith((".", "~"))
        or lower in MAPPING_NAMES
        or lower.endswith(WRITING_SUFFIXES)
        or lower.endswith(REASON_SUFFIX)
    )


def scan(
    inbox: Path, now: float | None = None, min_age_seconds: float = MIN_AGE_SECONDS
) -> list[PendingFile]:
    """The files waiting in ``inbox`` (``<data dir>/inbox``), sorted by their inbox path.

    Skipped: ``mapping.yml``, hidden files (``.name``) and office lock files (``~name``),
    files still being written (a ``.part``/``.tmp``/``.crdownload``... suffix, or modified less
    than ``min_age_seconds`` before ``now``, a Unix time, default the current time, or less than
    :data:`MAX_FUTURE_MTIME_SECONDS` after it), anything in ``archive/`` and ``quarantine/``,
    other top folders, and files in deeper sub-folders.
    """
    inbox = Path(inbox)
    now = time.time() if now is None else now
    found: list[PendingFile] = []

    def consider(path: Path, kind: str, folder: str | None, mapping_sha: str | None) -> None:
        if not path.is_file() or _ignored(path):
            return
        stat = path.stat()
        if -MAX_FUTURE_MTIME_SECONDS < now - stat.st_mtime < min_age_seconds:
            return
        found.append(
            PendingFile(
                kind, folder, path, stat.st_size, stat.st_mtime, sha256_of(path), mapping_sha
            )
        )

    for kind in KINDS:
        top = inbox / kind
        if not top.is_dir():
            continue
        for entry in sorted(top.iterdir()):
            if kind in FOLDER_KINDS and entry.is_dir() and not entry.name.startswith("."):
                mapping = mapping_file(entry)
                mapping_sha = sha256_of(mapping) if mapping else None
                for path in sorted(entry.iterdir()):
                    consider(path, kind, entry.name, mapping_sha)
            else:
                consider(entry, kind, None, None)
    return sorted(found, key=lambda p: p.relative)


def utc_stamp(moment: datetime) -> str:
    """``20260105T140311Z``: the archive prefix (sorts by time, no ':' for Windows shares)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _place(inbox: Path, area: str, pending: PendingFile) -> Path:
    parts = [pending.kind, *([pending.folder] if pending.folder else [])]
    return Path(inbox, area, *parts)


def archive_path(inbox: Path, pending: PendingFile, now: datetime) -> Path:
    """``archive/<kind>/[<folder>/]<UTC timestamp>__<name>``, unique (``-2``... when taken)."""
    folder = _place(inbox, ARCHIVE, pending)
    base = f"{utc_stamp(now)}__{pending.name}"
    path, n = folder / base, 1
    while path.exists():
        n += 1
        path = folder / f"{utc_stamp(now)}-{n}__{pending.name}"
    return path


def quarantine_path(inbox: Path, pending: PendingFile) -> Path:
    """``quarantine/<kind>/[<folder>/]<name>`` (a later refused file of that name replaces it)."""
    return _place(inbox, QUARANTINE, pending) / pending.name


def move(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


def write_text_atomic(path: Path, content: str) -> Path:
    """Write ``content`` (UTF-8) via a hidden temporary file and a rename, so that a reader or a
    watcher never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, content.encode("utf-8"))


def write_bytes_atomic(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(content)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
