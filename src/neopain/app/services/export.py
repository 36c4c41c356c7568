"""Confirmed records -> images + a manifest the training pipeline reads (the ward-to-model loop)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from neopain.app.core.audit import audit
from neopain.app.core.storage import ImageStore, ImageStoreError
from neopain.app.models import Record
from neopain.core.atomic import atomic_write_bytes
from neopain.data import Sample, write_manifest
from neopain.scales.nfcs import ACTIONS

DATASET = "ward"
MANIFEST_NAME = "manifest.csv"


@dataclass(frozen=True)
class ExportSummary:
    manifest: Path
    exported: int
    missing_images: int


# What the record page offered before lip purse joined the vocabulary (records with nfcs_coded None).
LEGACY_CODED = tuple(a for a in ACTIONS if a != "lip_purse")


def coded_actions(record: Record) -> tuple[str, ...]:
    """The actions the clinician coded on this record: present or absent; the others are unknown."""
    if record.nfcs_coded is not None:
        return tuple(a for a in ACTIONS if a in record.nfcs_coded)
    return LEGACY_CODED if record.nfcs_actions is not None else ()


def sample_of(record: Record, image_path: str) -> Sample:
    """One manifest row: subject is the baby's opaque id (never the name); the label is the clinician's."""
    actions = None
    score = None
    coded = coded_actions(record)
    if coded:
        present = set(record.nfcs_actions or [])
        actions = {a: int(a in present) for a in coded}
        # The count is a score only when every action was coded; otherwise the actions say it all.
        score = float(sum(actions.values())) if len(coded) == len(ACTIONS) else None
    box = tuple(record.box[:4]) if record.box and len(record.box) >= 4 else None
    return Sample(
        path=image_path,
        subject=record.baby.public_id,
        dataset=DATASET,
        label=record.confirmed_label or "",
        stimulus="ward",
        box=box,
        actions=actions,
        nfcs_score=score,  # type: ignore[arg-type]
    )


def export_labelled(db: Session, images: ImageStore, out_dir: Path) -> ExportSummary:
    """Write ``out_dir/images/<record id>.<ext>`` and ``out_dir/manifest.csv``; audit each record exported."""
    records = list(
        db.scalars(
            select(Record).where(Record.confirmed_label.is_not(None)).order_by(Record.captured_at, Record.id)
        )
    )
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    missing = 0
    for record in records:
        try:
            data = images.read(record.image_name)
        except ImageStoreError:
            missing += 1
            continue
        relative = f"images/{record.public_id}.{record.image_name.rsplit('.', 1)[-1]}"
        atomic_write_bytes(out_dir / relative, data)
        samples.append(sample_of(record, relative))
        audit(db, None, "export", "record", record.public_id, subject=record.baby.public_id)
    manifest = write_manifest(samples, out_dir / MANIFEST_NAME)
    db.commit()
    return ExportSummary(manifest, len(samples), missing)
