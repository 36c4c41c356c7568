"""Image files without a record: moved to a quarantine folder at start, never deleted there.

A file can lack a row for harmless reasons (a crash between the file's rename and the row's commit, a
purge interrupted after its commit) and for dangerous ones: the server pointed at the wrong or an empty
database, or another server process whose transaction is still open. So start-up only *moves* orphans
older than a grace period into quarantine, and refuses outright to start when the images folder holds
pictures but the database has no record at all. Deleting is a separate, audited request
(`neopain db purge --orphans --older-than DAYS`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from neopain.app.core.audit import audit
from neopain.app.core.storage import ImageStore, explanation_name
from neopain.app.models import Record


class EmptyDatabase(ValueError):
    """The images folder holds pictures but the database has no record: probably the wrong database."""


@dataclass(frozen=True)
class OrphanReport:
    """What a sweep moved: how many files and the oldest / newest of their write times (UTC)."""

    count: int
    oldest: datetime | None = None
    newest: datetime | None = None

    def describe(self) -> str:
        if not self.count:
            return "no orphan image files"
        return (f"{self.count} orphan image files (written {self.oldest:%Y-%m-%d %H:%M} to "
                f"{self.newest:%Y-%m-%d %H:%M} UTC)")


def _written_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _report(paths: list[Path]) -> OrphanReport:
    if not paths:
        return OrphanReport(0)
    times = sorted(_written_at(p) for p in paths)
    return OrphanReport(len(paths), times[0], times[-1])


def known_names(factory: sessionmaker[Session]) -> set[str]:
    """File names the database refers to: every record's frame and the frame's explanation overlay."""
    with factory() as db:
        frames = set(db.scalars(select(Record.image_name).where(Record.image_name.is_not(None))))
    return frames | {explanation_name(name) for name in frames}


def has_records(factory: sessionmaker[Session]) -> bool:
    with factory() as db:
        return db.scalar(select(Record.id).limit(1)) is not None


def refuse_empty_database(factory: sessionmaker[Session], images: ImageStore, database: str) -> None:
    """EmptyDatabase when the folder holds finished pictures and the database has no record at all."""
    pictures = [p for p in images.names() if not p.name.endswith(".part")]
    if pictures and not has_records(factory):
        raise EmptyDatabase(
            f"refusing to start: {images.root} holds {len(pictures)} images but the database {database} has "
            "no record; point NEOPAIN_DB_URL at the right database, or pass --accept-empty-database "
            "(NEOPAIN_ACCEPT_EMPTY_DATABASE=true) to start anyway (the images are quarantined, never deleted)"
        )


def _free_path(folder: Path, name: str) -> Path:
    target, n = folder / name, 1
    while target.exists():
        target, n = folder / f"{name}.{n}", n + 1
    return target


def quarantine_orphans(
    factory: sessionmaker[Session], images: ImageStore, quarantine: Path, grace_seconds: float
) -> OrphanReport:
    """Move files without a record (and leftover ``*.part`` files) older than the grace period to
    ``quarantine``; a younger file may belong to a transaction still open in another process."""
    cutoff = time.time() - grace_seconds
    candidates = [p for p in images.names() if p.stat().st_mtime < cutoff]
    if not candidates:
        return OrphanReport(0)
    # The names are read after the files were listed: a row committed in between protects its file.
    known = known_names(factory)
    orphans = [p for p in candidates if p.name.endswith(".part") or p.name not in known]
    report = _report(orphans)
    if orphans:
        quarantine.mkdir(parents=True, exist_ok=True)
    for path in orphans:
        os.replace(path, _free_path(quarantine, path.name))  # same file system: a rename, times kept
    return report


def quarantined(quarantine: Path) -> list[Path]:
    return sorted(p for p in quarantine.iterdir() if p.is_file()) if quarantine.is_dir() else []


def purge_quarantine(factory: sessionmaker[Session], quarantine: Path, older_than_days: float) -> OrphanReport:
    """Delete quarantined files written more than ``older_than_days`` ago; one audit row says how many."""
    cutoff = time.time() - older_than_days * 86400
    doomed = [p for p in quarantined(quarantine) if p.stat().st_mtime < cutoff]
    report = _report(doomed)
    if not doomed:
        return report
    with factory() as db:
        # Audited before the files go: a failed commit deletes nothing.
        audit(db, None, "purge", "orphan_images", str(report.count))
        db.commit()
    for path in doomed:
        path.unlink(missing_ok=True)
    return report
