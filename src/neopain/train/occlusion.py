"""Region occlusion for NFCS training: copies of training faces with one NFCS region blurred away.

In the synthetic pain state (as on a real baby in pain) the actions come together, so a network can read
brow bulge from the squeezed eyes or chin quiver from the open mouth: right on average, wrong as evidence,
and wrong whenever a hand or a tube hides the mouth. A copy of a face with, say, the mouth blurred keeps
every action outside the mouth as its target, so those actions must be read where they are; the mouth's
own actions (and the count) become unknown in the copy, never "absent": a hidden action is not assessable.
The blur is the one the occlusion evidence uses (``neopain.faces.occluded``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from neopain.faces import occluded
from neopain.scales.nfcs import ACTION_REGION, REGIONS
from neopain.train.data import FaceSet


def _blur_region(image_chw: np.ndarray, mask: np.ndarray) -> np.ndarray:
    hwc = np.ascontiguousarray(image_chw.transpose(1, 2, 0))
    return occluded(hwc, mask.astype(bool)).transpose(2, 0, 1)


def occluded_copies(
    faces: FaceSet, parts: np.ndarray, fraction: float, actions: Sequence[str], seed: int
) -> tuple[FaceSet, np.ndarray]:
    """``faces`` plus one copy, for a ``fraction`` of the faces with NFCS labels, with one random NFCS region
    (among those inside the crop) blurred and that region's actions and the count unknown (NaN).

    ``parts``: N x R x S x S masks of ``faces`` (``train.regions.region_parts``). Returns the enlarged set
    and, per copy, the index of its source face and of the region blurred (K x 2).
    """
    if faces.nfcs is None:
        raise ValueError("region occlusion needs NFCS targets (--targets pain,nfcs)")
    if not 0 < fraction <= 1:
        raise ValueError(f"the region occlusion fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    labelled = np.flatnonzero((~torch.isnan(faces.nfcs[:, :-1])).any(1).cpu().numpy())
    chosen = np.sort(rng.permutation(labelled)[: round(fraction * len(labelled))])
    images = faces.images[torch.as_tensor(chosen, device=faces.images.device)].cpu().numpy()
    nfcs = faces.nfcs[torch.as_tensor(chosen, device=faces.nfcs.device)].clone()
    which = np.zeros((len(chosen), 2), np.int64)
    for k, i in enumerate(chosen):
        inside = [r for r in range(len(REGIONS)) if parts[i, r].any()]
        region = inside[int(rng.integers(len(inside)))]
        images[k] = _blur_region(images[k], parts[i, region])
        for a, action in enumerate(actions):
            if ACTION_REGION[action] == REGIONS[region]:
                nfcs[k, a] = float("nan")
        nfcs[k, -1] = float("nan")  # the count cannot be known with an item hidden
        which[k] = (i, region)
    visible = copied_visibility(faces, chosen)
    if visible is not None:
        # A blurred region is neither hidden by an object nor plainly visible: unknown in the copy.
        visible[torch.arange(len(chosen)), torch.as_tensor(which[:, 1])] = float("nan")
    return with_copies(faces, chosen, torch.from_numpy(images), nfcs, visible), which


def copied_visibility(faces: FaceSet, chosen: np.ndarray) -> torch.Tensor | None:
    """The ``chosen`` faces' visibility targets, cloned for their copies (None: the set has none)."""
    if faces.visible is None:
        return None
    return faces.visible[torch.as_tensor(chosen, device=faces.visible.device)].clone()


def with_copies(
    faces: FaceSet, chosen: np.ndarray, images: torch.Tensor, nfcs: torch.Tensor | None,
    visible: torch.Tensor | None = None,
) -> FaceSet:
    """``faces`` with copies of the ``chosen`` faces appended: their new ``images``, NFCS and visibility
    targets (a set with visibility targets needs the copies' ``visible``)."""
    device = faces.images.device
    index = torch.as_tensor(chosen, device=device)
    regions = None if faces.regions is None else torch.cat([faces.regions, faces.regions[index]])
    if faces.visible is not None and visible is None:
        raise ValueError("these faces carry visibility targets: their copies need them too")
    return FaceSet(
        torch.cat([faces.images, images.to(device)]),
        torch.cat([faces.targets, faces.targets[index]]),
        faces.subjects + [faces.subjects[i] for i in chosen.tolist()],
        regions=regions,
        nfcs=None if nfcs is None or faces.nfcs is None else torch.cat([faces.nfcs, nfcs.to(faces.nfcs.device)]),
        visible=None if faces.visible is None else torch.cat([faces.visible, visible.to(faces.visible.device)]),
    )
