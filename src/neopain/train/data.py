"""Training data: checks on the task, the subject-grouped validation split, faces held as one tensor."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neopain.data import Sample, nfcs_table, resolve_path
from neopain.pixels.preprocess import resize_face
from neopain.scales.nfcs import LABELS


class TrainDataError(ValueError):
    """The training data cannot support the task (empty class, one subject, missing faces, ...)."""


@dataclass
class FaceSet:
    """Decoded faces as one uint8 N x 3 x S x S BGR tensor, with targets, on one device."""

    images: torch.Tensor
    targets: torch.Tensor
    subjects: list[str]
    regions: torch.Tensor | None = None  # N x 1 x S x S uint8, 1 inside an NFCS region (the region prior)
    # N x (A + 1) float: each action's 0/1 label then the NFCS score; NaN where a row does not code it.
    nfcs: torch.Tensor | None = None
    # N x R float, R = ``neopain.scales.nfcs.REGIONS`` in order: 1 where the region shows, 0 hidden, NaN unknown.
    visible: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def subset(self, indices: Sequence[int]) -> FaceSet:
        idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.images.device)
        regions = None if self.regions is None else self.regions[idx]
        nfcs = None if self.nfcs is None else self.nfcs[idx]
        visible = None if self.visible is None else self.visible[idx]
        return FaceSet(self.images[idx], self.targets[idx], [self.subjects[i] for i in indices], regions, nfcs,
                       visible)


def records_hidden(manifest_file: str | Path) -> bool:
    """Whether a manifest has a ``hidden`` column (then an empty cell means nothing is hidden)."""
    with open(manifest_file, newline="", encoding="utf-8") as fh:
        return "hidden" in (csv.DictReader(fh).fieldnames or [])


def visibility_targets(
    samples: Sequence[Sample], regions: Sequence[str], recorded: bool, what: str = "training set"
) -> np.ndarray:
    """N x R float32: 1 where a region shows, 0 where the row's ``hidden`` names it; NaN where the row does
    not record it: neither its manifest has a ``hidden`` column (``recorded``) nor is it synthetic (the
    generator records every region it hides). TrainDataError when no row records anything."""
    table = np.full((len(samples), len(regions)), np.nan, np.float32)
    for i, sample in enumerate(samples):
        if recorded or sample.dataset == "synthetic":
            table[i] = [0.0 if region in sample.hidden else 1.0 for region in regions]
    if np.isnan(table).all():
        raise TrainDataError(
            f"{what}: --targets visible needs rows that record their hidden regions (a 'hidden' column, "
            "or synthetic faces), and none does"
        )
    return table


def nfcs_targets(samples: Sequence[Sample], actions: Sequence[str], what: str = "training set") -> np.ndarray:
    """N x (A + 1) float32: 0/1 per action, then ``nfcs_score``; NaN where unknown (never 0).

    TrainDataError when no row codes any action nor a score: there is nothing to learn NFCS from.
    """
    table = nfcs_table(samples, actions)
    if np.isnan(table).all():
        raise TrainDataError(
            f"{what}: --targets nfcs needs NFCS labels, and no row has an nfcs_<action> value or an nfcs_score"
        )
    return table


def check_task(samples: Sequence[Sample], what: str = "training set") -> None:
    """Both classes present, at least two subjects, every row labelled."""
    unlabelled = [s.path for s in samples if not s.is_labelled]
    if unlabelled:
        raise TrainDataError(
            f"{what}: {len(unlabelled)} row(s) have no pain/no_pain label (e.g. {unlabelled[0]}); "
            "pass the rows of neopain.data.manifest.binary_task()"
        )
    counts = {label: sum(s.label == label for s in samples) for label in LABELS}
    empty = [label for label, count in counts.items() if count == 0]
    if empty:
        raise TrainDataError(f"{what}: class {', '.join(empty)} has no images (counts: {counts})")
    subjects = {s.subject for s in samples}
    if len(subjects) < 2:
        raise TrainDataError(
            f"{what}: all {len(samples)} images come from one subject ({next(iter(subjects))}); "
            "a subject-grouped validation split needs at least two"
        )


def split_train_val(
    samples: Sequence[Sample], val_fraction: float, seed: int, attempts: int = 50
) -> tuple[list[int], list[int]]:
    """Indices (train, val), grouped by subject: no subject in both; both classes in the training part."""
    from sklearn.model_selection import GroupShuffleSplit

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    groups = [s.subject for s in samples]
    labels = np.array([s.target for s in samples])
    splitter = GroupShuffleSplit(n_splits=attempts, test_size=val_fraction, random_state=seed)
    for train_idx, val_idx in splitter.split(np.zeros(len(samples)), labels, groups):
        # A draw where one class is absent from training cannot train; take the next seeded draw.
        if len(set(labels[train_idx])) == 2 and len(val_idx) > 0:
            assert not {groups[i] for i in train_idx} & {groups[i] for i in val_idx}
            return sorted(train_idx.tolist()), sorted(val_idx.tolist())
    raise TrainDataError(
        f"no subject-grouped split of {len(set(groups))} subjects leaves both classes in training "
        f"(val_fraction={val_fraction}); add subjects or lower the validation fraction"
    )


def face_files(samples: Sequence[Sample], manifest_file: str | Path) -> list[Path]:
    """Absolute face paths; raises naming the missing ones (all of them, up to ten)."""
    files = [resolve_path(manifest_file, s.path) for s in samples]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise TrainDataError(
            f"{manifest_file}: {len(missing)} face file(s) missing (run `neopain faces` first?): {shown}"
        )
    return files


def load_faces(
    samples: Sequence[Sample], manifest_file: str | Path, size: int, device: torch.device | str = "cpu",
    actions: Sequence[str] = (), visible: Sequence[str] = (),
) -> FaceSet:
    """Read, resize (``preprocess.resize_face``, as serving does) and stack the faces on ``device``; with
    ``actions``, their NFCS targets too (``nfcs_targets``); with ``visible`` regions, whether each shows."""
    from neopain.pixels.imageio import ImageError, read_image  # OpenCV/Pillow only where faces are read

    files = face_files(samples, manifest_file)
    images = np.empty((len(files), size, size, 3), np.uint8)
    for i, file in enumerate(files):
        try:
            images[i] = resize_face(read_image(file), size)
        except ImageError as exc:
            raise TrainDataError(f"{manifest_file}: row for {samples[i].path}: {exc}") from exc
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
    targets = torch.tensor([s.target for s in samples], dtype=torch.long, device=device)
    nfcs = torch.from_numpy(nfcs_targets(samples, actions, str(manifest_file))).to(device) if actions else None
    shows = None
    if visible:
        table = visibility_targets(samples, visible, records_hidden(manifest_file), str(manifest_file))
        shows = torch.from_numpy(table).to(device)
    return FaceSet(tensor, targets, [s.subject for s in samples], nfcs=nfcs, visible=shows)
