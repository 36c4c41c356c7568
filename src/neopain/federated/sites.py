"""The hospitals of a federation as data: each site's faces, split by subject into its training and its test
part (seeded, no baby on both sides), and for the simulation the sites cut from one manifest's subjects."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neopain.data import ManifestError, Sample, binary_task, manifest_hash, read_manifest
from neopain.evaluate import subject_holdout

TEST_SIZE = 0.3  # share of each site's subjects held out for its subject-independent test


class SiteError(ValueError):
    """A site's data cannot take part (unreadable manifest, one class, too few babies); names the site."""


@dataclass(frozen=True)
class Site:
    """One hospital: its name, the faces manifest its paths are relative to, and its labelled rows."""

    name: str
    manifest: Path
    samples: tuple[Sample, ...]

    @property
    def subjects(self) -> set[str]:
        return {s.subject for s in self.samples}

    @property
    def datasets(self) -> list[str]:
        return sorted({s.dataset for s in self.samples})

    def fingerprint(self) -> str:
        """The manifest hash of the site's rows: identifies what it trained on without revealing a row."""
        return manifest_hash(self.samples)

    def split(self, seed: int, test_size: float = TEST_SIZE) -> tuple[Site, Site]:
        """(training part, test part): a subject hold-out drawn from (seed, the site's rows)."""
        try:
            holdout = subject_holdout(self.samples, repeats=1, test_size=test_size, seed=site_seed(seed, self))[0]
        except ValueError as exc:
            raise SiteError(f"site {self.name} ({self.manifest}): cannot hold out test babies: {exc}") from exc
        return self._part(holdout.train), self._part(holdout.test)

    def _part(self, rows: np.ndarray) -> Site:
        return Site(self.name, self.manifest, tuple(self.samples[int(i)] for i in rows))


def site_seed(seed: int, site: Site, *more: int) -> int:
    """A seed of (run seed, site name, ``more``: a round, ...) as a digest: each site's split and rounds
    draw their own numbers, so adding a site changes no other site's."""
    key = ":".join(map(str, (seed, site.name, *more)))
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def read_site(manifest: str | Path, name: str | None = None) -> Site:
    """A site from its faces manifest; SiteError (naming the site and the file) when it cannot train."""
    path = Path(manifest)
    name = name or path.parent.name or path.stem
    try:
        samples = binary_task(read_manifest(path))
    except (ManifestError, OSError) as exc:
        raise SiteError(f"site {name}: {exc}") from exc
    site = Site(name, path, tuple(samples))
    check_site(site)
    return site


def check_site(site: Site, minimum_subjects: int = 3) -> None:
    """Both classes and enough babies for a subject-independent test part and a training part."""
    if not site.samples:
        raise SiteError(f"site {site.name} ({site.manifest}): no labelled pain/no_pain rows")
    labels = {s.label for s in site.samples}
    if len(labels) < 2:
        raise SiteError(f"site {site.name} ({site.manifest}): only class {labels.pop()} among its rows")
    if len(site.subjects) < minimum_subjects:
        raise SiteError(f"site {site.name} ({site.manifest}): {len(site.subjects)} babies; a site needs "
                        f"at least {minimum_subjects} (training babies and held-out test babies)")


def split_by_subject(manifest: str | Path, sites: int, seed: int) -> list[Site]:
    """``sites`` sites from one manifest: its subjects dealt out in a seeded order, so no subject is in two."""
    path = Path(manifest)
    if sites < 2:
        raise SiteError(f"a federation needs at least 2 sites, got {sites}")
    samples = binary_task(read_manifest(path))
    subjects = sorted({s.subject for s in samples})
    if len(subjects) < 3 * sites:
        raise SiteError(f"{path}: {len(subjects)} subjects cannot make {sites} sites of at least 3 babies each")
    order = np.random.default_rng([seed, 7]).permutation(len(subjects))
    site_of = {subjects[j]: rank % sites for rank, j in enumerate(order)}
    made = [Site(f"site-{k + 1}", path, tuple(s for s in samples if site_of[s.subject] == k)) for k in range(sites)]
    for site in made:
        check_site(site)
    return made


def sites_from(manifests: Sequence[str | Path], sites: int | None, seed: int) -> list[Site]:
    """One site per manifest, or, for one manifest and ``sites``, its subjects dealt into that many sites."""
    if len(manifests) == 1 and sites:
        return split_by_subject(manifests[0], sites, seed)
    if sites and sites != len(manifests):
        raise SiteError(f"--sites {sites} with {len(manifests)} manifests: give one manifest per site, or one "
                        "manifest to split")
    folders = [Path(m).resolve().parent.name for m in manifests]
    unique = len(set(folders)) == len(folders)
    made = [read_site(m, folders[k] if unique else f"site-{k + 1}") for k, m in enumerate(manifests)]
    if len(made) < 2:
        raise SiteError("a federation needs at least 2 sites: give --sites K or several manifests")
    seen: dict[str, int] = {}
    for site in made:
        for subject in site.subjects:
            seen[subject] = seen.get(subject, 0) + 1
    shared = [subject for subject, count in seen.items() if count > 1]
    if shared:
        raise SiteError(f"subject(s) {', '.join(sorted(shared)[:5])} appear in more than one site's manifest")
    return made
