"""The manifest CSV: round trip, errors that name file/row/field, atomic writes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from neopain.data import manifest as manifest_module
from neopain.data.manifest import (
    COLUMNS,
    ManifestError,
    Sample,
    binary_task,
    manifest_hash,
    read_manifest,
    resolve_path,
    summarize,
    write_manifest,
)
from neopain.scales.nfcs import ACTIONS

FULL = Sample(
    path="imgs/a.jpg",
    subject="s1",
    dataset="synthetic",
    label="pain",
    stimulus="pain",
    sex="F",
    box=(1.5, 2.0, 10.0, 12.25),
    actions={a: i % 2 for i, a in enumerate(ACTIONS)},
    nfcs_score=4.0,
    source_path="/data/raw/a.jpg",
    mask_path="masks/a.png",
)
BARE = Sample(path="/abs/b.png", subject="s2")


def write_rows(file: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(file, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return file


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    file = write_manifest([FULL, BARE, FULL.with_(path="imgs/c.jpg", label="no_pain")], tmp_path / "m.csv")
    back = read_manifest(file)
    assert back == [FULL, BARE, FULL.with_(path="imgs/c.jpg", label="no_pain")]
    assert back[0].actions == FULL.actions and back[1].actions is None and back[1].box is None
    with open(file, newline="") as fh:
        assert tuple(next(csv.reader(fh))) == COLUMNS


def test_header_order_is_free_and_optional_columns_optional(tmp_path: Path) -> None:
    file = write_rows(tmp_path / "m.csv", ["label", "subject", "path"], [["no_pain", "s9", "x.jpg"]])
    assert read_manifest(file) == [Sample(path="x.jpg", subject="s9", label="no_pain")]


def test_resolve_path_relative_to_the_manifest(tmp_path: Path) -> None:
    assert (
        resolve_path(tmp_path / "sub" / "m.csv", "imgs/a.jpg")
        == tmp_path.resolve() / "sub" / "imgs" / "a.jpg"
    )
    assert resolve_path(tmp_path / "m.csv", "/abs/b.png") == Path("/abs/b.png")


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (["path", "label"], [["a.jpg", "pain"]], r"m\.csv: missing column\(s\) subject"),
        (
            ["path", "subject", "label"],
            [["a.jpg", "s1", "pain"], ["b.jpg", "s1", "hurt"]],
            r"m\.csv: row 3, field 'label': unknown label 'hurt'",
        ),
        (
            ["path", "subject", "box_x", "box_y", "box_w", "box_h"],
            [["a.jpg", "s1", "0", "0", "-4", "5"]],
            r"m\.csv: row 2, field 'box_w': box size must be positive",
        ),
        (
            ["path", "subject", "box_x", "box_y", "box_w", "box_h"],
            [["a.jpg", "s1", "0", "", "4", "5"]],
            r"m\.csv: row 2, field 'box_y': a face box needs all",
        ),
        (
            ["path", "subject", "box_x", "box_y", "box_w", "box_h"],
            [["a.jpg", "s1", "zero", "0", "4", "5"]],
            r"m\.csv: row 2, field 'box_x': 'zero' is not a number",
        ),
        (
            ["path", "subject"],
            [["a.jpg", "s1"], ["b.jpg", "s2"], ["a.jpg", "s3"]],
            r"m\.csv: row 4, field 'path': duplicate path 'a.jpg' \(first at row 2\)",
        ),
        (["path", "subject"], [["a.jpg", ""]], r"m\.csv: row 2, field 'subject': is empty"),
        (
            ["path", "subject", "nfcs_brow_bulge"],
            [["a.jpg", "s1", "2"]],
            r"m\.csv: row 2, field 'nfcs_brow_bulge': expected 0, 1 or empty \(not coded\), got '2'",
        ),
        (
            ["path", "subject", "nfcs_brow_bulge", "nfcs_lip_pursed"],
            [["a.jpg", "s1", "1", "0"]],
            r"m\.csv: column nfcs_lip_pursed names no NFCS action",
        ),
    ],
)
def test_errors_name_file_row_and_field(
    tmp_path: Path, header: list[str], rows: list[list[str]], message: str
) -> None:
    file = write_rows(tmp_path / "m.csv", header, rows)
    with pytest.raises(ManifestError, match=message):
        read_manifest(file)


def test_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"nope\.csv: manifest not found"):
        read_manifest(tmp_path / "nope.csv")


def test_duplicate_paths_are_refused_on_write(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="duplicate path"):
        write_manifest([BARE, BARE.with_(subject="other")], tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_failed_write_leaves_old_file_and_no_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = write_manifest([FULL], tmp_path / "m.csv")
    before = file.read_bytes()
    calls = {"n": 0}
    real = manifest_module.sample_to_record

    def fail_on_third_row(sample: Sample) -> dict[str, str]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(sample)

    monkeypatch.setattr(manifest_module, "sample_to_record", fail_on_third_row)
    rows = [FULL.with_(path=f"imgs/{i}.jpg") for i in range(5)]
    with pytest.raises(OSError, match="disk full"):
        write_manifest(rows, file)
    assert calls["n"] == 3  # it did fail half-way through
    assert file.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_binary_task_summary_and_hash() -> None:
    rows = [FULL, BARE, FULL.with_(path="c.jpg", label="no_pain", dataset="icope", subject="s3")]
    assert [s.path for s in binary_task(rows)] == ["imgs/a.jpg", "c.jpg"]
    assert summarize(rows) == {
        "images": 3,
        "subjects": 3,
        "labels": {"pain": 1, "(unlabelled)": 1, "no_pain": 1},
        "datasets": {"synthetic": 1, "(none)": 1, "icope": 1},
    }
    assert manifest_hash(rows) == manifest_hash(list(reversed(rows)))
    assert manifest_hash(rows) != manifest_hash(rows[:2])
    assert [FULL.target, rows[2].target] == [1, 0]


NINE = [a for a in ACTIONS if a != "lip_purse"]  # the manifests written before lip purse was coded


def test_an_action_a_manifest_does_not_code_is_unknown_never_absent(tmp_path: Path) -> None:
    header = ["path", "subject", "label", *(f"nfcs_{a}" for a in NINE)]
    file = write_rows(tmp_path / "old.csv", header, [["a.jpg", "s1", "pain", *("1" for _ in NINE)],
                                                      ["b.jpg", "s1", "no_pain", "", *("0" for _ in NINE[1:])]])
    first, second = read_manifest(file)
    assert first.actions == dict.fromkeys(NINE, 1) and "lip_purse" not in first.actions
    assert "brow_bulge" not in second.actions and second.actions["eye_squeeze"] == 0
    write_manifest([first, second], tmp_path / "again.csv")
    again = read_manifest(tmp_path / "again.csv")
    assert [s.actions for s in again] == [first.actions, second.actions]  # unknown stays unknown


def test_nfcs_versions_score_only_the_actions_they_count() -> None:
    from neopain.scales.nfcs import NfcsError, nfcs_version

    coded = {**dict.fromkeys(ACTIONS, 0), "brow_bulge": 1, "lip_purse": 1, "tongue_protrusion": 1}
    assert nfcs_version("nfcs-10").score(coded) == (3, 10)
    assert nfcs_version("nfcs-8").score(coded) == (1, 8)
    assert nfcs_version("nfcs-p-3").score({"brow_bulge": 1, "eye_squeeze": None}) == (1, 1)
    with pytest.raises(NfcsError, match="unknown NFCS version 'nfcs-11'"):
        nfcs_version("nfcs-11")
