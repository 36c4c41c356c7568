"""iCOPE adapter: stills named ``S{NN}_{M|F}_{stimulus}[_{k}].jpg``, with the quirks real copies have.

Quirks handled (all seen in copies in the wild):

* misspelt stimuli: ``friciton`` -> ``friction`` (see ``STIMULUS_ALIASES``)
* stray spaces: ``S03_F_rest _1.jpg`` -> rest, take 1
* a take number without underscore: ``pain2``, ``air2`` -> pain / air, take 2
* a trailing ``b``: ``S05_M_painb.jpg`` -> pain, take ``b``
* any case: ``s3_f_Rest.JPG`` -> subject ``icope_S03``, F, rest

The binary task defaults to the seed paper's: ``pain`` -> pain, ``rest`` -> no_pain; every other
stimulus stays in the manifest with an empty label, so it can be selected later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from neopain.data.importing import DatasetError, ImportResult, relative_name, walk_images
from neopain.data.manifest import Sample

DATASET = "icope"
STIMULI = ("rest", "cry", "air", "friction", "pain", "sucrose", "yawn", "sneeze")
STIMULUS_ALIASES = {"friciton": "friction", "fricton": "friction", "fricction": "friction"}
DEFAULT_PAIN_STIMULI = ("pain",)
DEFAULT_NO_PAIN_STIMULI = ("rest",)

_SUBJECT = re.compile(r"s(\d{1,3})")
_SEX = re.compile(r"[mf]")
# The part after the sex: a stimulus word, an optional take number (with or without '_') and 'b'.
_STIMULUS_PART = re.compile(r"(?P<word>[a-z]+)(?:_?(?P<take>\d+))?(?P<b>b)?")


class IcopeNameError(ValueError):
    """A file name that does not follow the iCOPE pattern; the message says why."""


@dataclass(frozen=True)
class IcopeName:
    """What an iCOPE file name says."""

    subject: str  # icope_S03
    sex: str  # M or F
    stimulus: str  # normalised: rest, pain, friction, ...
    take: str = ""  # '1', '2', 'b', '2b' or ''

    @property
    def known_stimulus(self) -> bool:
        return self.stimulus in STIMULI


def normalise_stimulus(word: str) -> str:
    """Lower-case and spelling fixes: ``Friciton`` -> ``friction``."""
    word = word.strip().lower()
    return STIMULUS_ALIASES.get(word, word)


def _split_trailing_b(word: str, b: str | None) -> tuple[str, str]:
    """``painb`` -> (``pain``, ``b``): the greedy word swallows a trailing b that marks a take."""
    if b is None and word not in STIMULI and word.endswith("b") and normalise_stimulus(word[:-1]) in STIMULI:
        return word[:-1], "b"
    return word, b or ""


def parse_icope_name(filename: str) -> IcopeName:
    """Parse an iCOPE file name; IcopeNameError says what is wrong."""
    stem = Path(filename).stem
    # Spaces ("rest _1", "pain 2") are typing slips, not meaning.
    parts = re.sub(r"\s+", "", stem).lower().split("_")
    if len(parts) < 3:
        raise IcopeNameError("expected S<NN>_<M|F>_<stimulus>[_<k>]")
    subject, sex, rest = parts[0], parts[1], "_".join(parts[2:])
    subject_match = _SUBJECT.fullmatch(subject)
    if subject_match is None:
        raise IcopeNameError(f"does not start with S<number> (subject), got '{subject}'")
    if not _SEX.fullmatch(sex):
        raise IcopeNameError(f"expected sex M or F after the subject, got '{sex}'")
    match = _STIMULUS_PART.fullmatch(rest)
    if not match:
        raise IcopeNameError(f"cannot read a stimulus and take from '{rest}'")
    word, b = _split_trailing_b(match["word"], match["b"])
    return IcopeName(
        subject=f"{DATASET}_S{int(subject_match[1]):02d}",
        sex=sex.upper(),
        stimulus=normalise_stimulus(word),
        take=f"{match['take'] or ''}{b}",
    )


def _normalise_choice(stimuli: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalise_stimulus(s) for s in stimuli if s.strip()))


def label_for(stimulus: str, pain_stimuli: tuple[str, ...], no_pain_stimuli: tuple[str, ...]) -> str:
    if stimulus in pain_stimuli:
        return "pain"
    if stimulus in no_pain_stimuli:
        return "no_pain"
    return ""


def import_icope(
    src: str | Path,
    pain_stimuli: Iterable[str] = DEFAULT_PAIN_STIMULI,
    no_pain_stimuli: Iterable[str] = DEFAULT_NO_PAIN_STIMULI,
) -> ImportResult:
    """Import an iCOPE copy (searched recursively, e.g. ``iCOPE/pilot/``) into manifest rows."""
    pain, no_pain = _normalise_choice(pain_stimuli), _normalise_choice(no_pain_stimuli)
    overlap = sorted(set(pain) & set(no_pain))
    if overlap:
        raise DatasetError(f"stimulus {', '.join(overlap)} cannot be both pain and no_pain")
    if not pain and not no_pain:
        raise DatasetError("choose at least one pain or no_pain stimulus")
    root = Path(src).resolve()
    result = ImportResult(dataset=DATASET, source=root)
    for image in walk_images(root, result):
        shown = relative_name(image, root)
        try:
            name = parse_icope_name(image.name)
        except IcopeNameError as exc:
            result.skip(shown, f"name not in iCOPE form: {exc}")
            continue
        if not name.known_stimulus:
            result.warn(shown, f"unknown stimulus '{name.stimulus}' (kept; known: {', '.join(STIMULI)})")
        result.samples.append(
            Sample(
                path=str(image),
                subject=name.subject,
                dataset=DATASET,
                label=label_for(name.stimulus, pain, no_pain),
                stimulus=name.stimulus,
                sex=name.sex,
            )
        )
    _warn_inconsistent_sex(result)
    _warn_unused_choices(result, (*pain, *no_pain))
    return result


def _warn_inconsistent_sex(result: ImportResult) -> None:
    """A subject named M in one file and F in another is a typo somewhere; say so."""
    sexes: dict[str, set[str]] = {}
    for sample in result.samples:
        sexes.setdefault(sample.subject, set()).add(sample.sex)
    for subject, found in sorted(sexes.items()):
        if len(found) > 1:
            result.warn(subject, f"file names disagree on sex ({', '.join(sorted(found))})")


def _warn_unused_choices(result: ImportResult, chosen: Iterable[str]) -> None:
    present = {s.stimulus for s in result.samples}
    for stimulus in chosen:
        if stimulus not in present:
            result.warn(result.source, f"no image has the chosen stimulus '{stimulus}'")
