"""Files people upload on the page: safe names, limits, and the copy-then-ingest transaction.

An upload is copied into ``<store>/uploads`` (never anywhere else, whatever name the browser sent), then
ingested through the injected :class:`qa.types.Library`. A file the library rejects is removed again, and the
upload it replaced is put back, so the folder only ever holds files whose text is in the store.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

from qa.errors import InputError
from qa.types import Library, SyncReport

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 120


def safe_filename(name: str) -> str:
    """A file name that is safe to create in the uploads folder: no folders, no leading dots, no odd characters.

    Letters of any script are kept (an Arabic article keeps its Arabic name); the suffix is lower-cased so
    the loader recognises it.
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name or ""))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" ._-")
    base = re.sub(r"\s+", " ", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip(" ._-") or "upload"
    suffix = f".{suffix.lower()}" if suffix else ""
    return stem[: MAX_NAME_CHARS - len(suffix)] + suffix


def upload_path(folder: Path, name: str) -> Path:
    """Where an upload called ``name`` is stored: always directly inside ``folder``."""
    target = folder / safe_filename(name)
    if target.resolve().parent != folder.resolve():
        raise InputError(f"refused the file name {name!r}")
    return target


def check_upload(path: Path, name: str, max_mb: float, suffixes: Sequence[str]) -> None:
    """Type and size limits, checked before anything is copied into the store."""
    suffix = Path(safe_filename(name)).suffix
    if suffix not in suffixes:
        raise InputError(f"{name}: unsupported file type {suffix or '(none)'}; upload {', '.join(suffixes)}")
    size = path.stat().st_size
    if size > max_mb * 1_000_000:
        raise InputError(f"{name}: {size / 1e6:.1f} MB is over the {max_mb:g} MB limit")
    if size == 0:
        raise InputError(f"{name}: the file is empty")


class Uploads:
    """The store's uploads folder and the library that ingests what lands in it.

    ``suffixes`` are the file types the library reads; they are given, not imported, because ``qa`` never
    imports the ingest package.
    """

    def __init__(self, library: Library, folder: Path, suffixes: Sequence[str], max_mb: float) -> None:
        self.library = library
        self.folder = folder
        self.suffixes = list(suffixes)
        self.max_mb = max_mb

    def add(
        self, files: Sequence[str | Path], step: Callable[[str], None] | None = None
    ) -> tuple[SyncReport, list[str]]:
        """Copy the files in under safe names, ingest them, and undo the copies that failed.

        Returns what the library did and one message per file that was not added; raises :class:`InputError`
        when nothing at all was added. ``step`` hears which stage is running (for a progress bar).
        """
        if not files:
            raise InputError(f"choose one or more files first ({', '.join(self.suffixes)})")
        self.folder.mkdir(parents=True, exist_ok=True)
        step = step or log.debug
        step("Checking the files")
        problems: list[str] = []
        copied: dict[Path, Path | None] = {}  # stored file -> backup of the version it replaced
        for f in files:
            src = Path(f)
            name = src.name
            try:
                check_upload(src, name, self.max_mb, self.suffixes)
                target = upload_path(self.folder, name)
            except InputError as e:
                problems.append(str(e))
                continue
            if target in copied:
                problems.append(f"{name}: another file in this upload has the same name; skipped")
                continue
            backup = None
            if target.exists():
                backup = target.with_name(f".{target.name}.previous")
                os.replace(target, backup)
            partial = target.with_name(f".{target.name}.part")
            shutil.copyfile(src, partial)
            os.replace(partial, target)
            copied[target] = backup
        report = None
        try:
            if copied:
                step("Reading and embedding")
                report = self.library.add(list(copied), progress=True)
        finally:
            self._roll_back(copied, report)
        if report:
            problems += [f"{Path(r.path).name}: {r.reason}" for r in report.failed]
        if report is None or (problems and not (report.added or report.updated or report.skipped)):
            raise InputError("nothing was added. " + " ".join(problems))
        return report, problems

    @staticmethod
    def _roll_back(copied: dict[Path, Path | None], report: SyncReport | None) -> None:
        """Remove the copies the library did not take (all of them when it raised) and restore what they replaced."""
        failed = {Path(r.path).name for r in report.failed} if report else {t.name for t in copied}
        for target, backup in copied.items():
            if target.name in failed:
                target.unlink(missing_ok=True)
                if backup:
                    os.replace(backup, target)
            elif backup:
                backup.unlink(missing_ok=True)

    def delete(self, path: str) -> None:
        """Delete an article from the library, and its file too when it is one of our uploads (never another file)."""
        self.library.delete(path)
        stored = Path(path)
        if stored.parent.resolve() == self.folder.resolve():
            stored.unlink(missing_ok=True)
