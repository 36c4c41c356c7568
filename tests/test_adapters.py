"""Dataset adapters (iCOPE, UNIFESP, folder per class, CSV) and the ``neopain data import`` CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data.folder import import_csv, import_folder
from neopain.data.icope import IcopeNameError, import_icope, parse_icope_name
from neopain.data.importing import DatasetError, portable_path
from neopain.data.manifest import read_manifest, resolve_path
from neopain.data.tables import LabelError, parse_label, read_table
from neopain.data.unifesp import UnifespNameError, import_unifesp, parse_unifesp_name


def tiny_image(path: Path, size: tuple[int, int] = (16, 16), fmt: str | None = None) -> Path:
    """A real, decodable image (colour from the name, so files differ)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shade = sum(path.name.encode()) % 256
    Image.new("RGB", size, (shade, 255 - shade, 128)).save(path, format=fmt)
    return path


# file name -> (subject, sex, stimulus, label under the default pain-vs-rest task)
ICOPE_FILES = {
    "S01_M_rest.jpg": ("icope_S01", "M", "rest", "no_pain"),
    "S01_M_pain.jpg": ("icope_S01", "M", "pain", "pain"),
    "S01_M_cry.jpg": ("icope_S01", "M", "cry", ""),
    "S01_M_air2.jpg": ("icope_S01", "M", "air", ""),
    "S01_M_friciton.jpg": ("icope_S01", "M", "friction", ""),
    "S03_F_rest _1.jpg": ("icope_S03", "F", "rest", "no_pain"),
    "S03_F_rest_2.JPG": ("icope_S03", "F", "rest", "no_pain"),
    "S03_F_pain2.jpg": ("icope_S03", "F", "pain", "pain"),
    "S03_F_sucrose.jpeg": ("icope_S03", "F", "sucrose", ""),
    "S05_M_painb.jpg": ("icope_S05", "M", "pain", "pain"),
    "S05_M_yawn.Jpg": ("icope_S05", "M", "yawn", ""),
    "S5_M_rest.jpg": ("icope_S05", "M", "rest", "no_pain"),
    "S12_F_sneeze_1.jpg": ("icope_S12", "F", "sneeze", ""),
    "S12_F_hiccup.jpg": ("icope_S12", "F", "hiccup", ""),  # unknown stimulus: kept, warned
}
ICOPE_BAD = {"S07_X_rest.jpg": "sex", "photo.jpg": "S<NN>", "S08_F_rest_x.jpg": "stimulus"}


@pytest.fixture()
def icope_root(tmp_path: Path) -> Path:
    pilot = tmp_path / "iCOPE" / "pilot"
    for name in (*ICOPE_FILES, *ICOPE_BAD):
        tiny_image(pilot / name, fmt="JPEG")
    (pilot / "notes.txt").write_text("not an image")
    (pilot / ".DS_Store").write_bytes(b"\0")
    return tmp_path / "iCOPE"


def by_name(samples) -> dict[str, tuple[str, str, str, str]]:
    return {Path(s.path).name: (s.subject, s.sex, s.stimulus, s.label) for s in samples}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("S03_F_rest _1.jpg", ("icope_S03", "F", "rest", "1")),
        ("S01_M_air2.jpg", ("icope_S01", "M", "air", "2")),
        ("S05_M_painb.jpg", ("icope_S05", "M", "pain", "b")),
        ("s2_f_Friciton_3.JPG", ("icope_S02", "F", "friction", "3")),
        ("S10_M_pain2b.jpeg", ("icope_S10", "M", "pain", "2b")),
    ],
)
def test_parse_icope_name_quirks(name: str, expected: tuple[str, str, str, str]) -> None:
    parsed = parse_icope_name(name)
    assert (parsed.subject, parsed.sex, parsed.stimulus, parsed.take) == expected


@pytest.mark.parametrize(
    ("name", "why"), [("S07_X_rest.jpg", "sex"), ("rest.jpg", "S<NN>"), ("S1_M_2.jpg", "stimulus")]
)
def test_parse_icope_name_says_why(name: str, why: str) -> None:
    with pytest.raises(IcopeNameError, match=why):
        parse_icope_name(name)


def test_icope_import_subjects_sexes_stimuli_labels(icope_root: Path) -> None:
    result = import_icope(icope_root)
    assert by_name(result.samples) == ICOPE_FILES
    assert {s.dataset for s in result.samples} == {"icope"}
    skipped = {Path(p.where).name: p.reason for p in result.problems}
    assert set(skipped) == set(ICOPE_BAD)
    for name, why in ICOPE_BAD.items():
        assert why in skipped[name]
    warnings = " | ".join(str(w) for w in result.warnings)
    assert "hiccup" in warnings and ".txt x1" in warnings and "DS_Store" not in warnings


def test_icope_selectable_stimuli(icope_root: Path) -> None:
    result = import_icope(
        icope_root, pain_stimuli=["pain"], no_pain_stimuli=["rest", "cry", "air", "Friciton"]
    )
    labels = {name: label for name, (_, _, _, label) in by_name(result.samples).items()}
    assert labels["S01_M_cry.jpg"] == labels["S01_M_air2.jpg"] == labels["S01_M_friciton.jpg"] == "no_pain"
    assert labels["S05_M_painb.jpg"] == "pain" and labels["S03_F_sucrose.jpeg"] == ""
    with pytest.raises(DatasetError, match="both pain and no_pain"):
        import_icope(icope_root, pain_stimuli=["pain"], no_pain_stimuli=["pain"])
    warned = import_icope(icope_root, no_pain_stimuli=["rest", "tickle"]).warnings
    assert any("tickle" in w.reason for w in warned)


def test_icope_sex_disagreement_is_warned(tmp_path: Path) -> None:
    tiny_image(tmp_path / "S01_M_rest.jpg")
    tiny_image(tmp_path / "S01_F_pain.jpg")
    result = import_icope(tmp_path)
    assert any(w.where == "icope_S01" and "sex" in w.reason for w in result.warnings)


def test_manifest_paths_are_portable(icope_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "work" / "icope.csv"
    import_icope(icope_root).write(out)
    samples = read_manifest(out)
    assert all(s.path.startswith("../iCOPE/pilot/") for s in samples)
    assert all(resolve_path(out, s.path).is_file() for s in samples)
    # Nothing in common with the manifest but the filesystem root: absolute.
    assert portable_path("/usr/share/x.jpg", tmp_path / "m.csv") == "/usr/share/x.jpg"
    assert portable_path(tmp_path / "a" / "x.jpg", tmp_path / "m.csv") == "a/x.jpg"


def test_folder_without_images_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match="no image files found"):
        import_icope(tmp_path / "empty")
    with pytest.raises(DatasetError, match="folder not found"):
        import_folder(tmp_path / "missing")


# ---------------------------------------------------------------- UNIFESP

UNIFESP_IMAGES = ["01_101500.bmp", "01_101500_2.bmp", "sub/01_113000.BMP", "02_090000.bmp", "12_235959.bmp"]
UNIFESP_BAD = {"03_250000.bmp": "time of day", "weird.bmp": "UNIFESP form"}
# Excel in a Portuguese locale: BOM, ';' and decimal commas, Portuguese words and column names.
UNIFESP_LABELS = (
    "\ufeffImagem;Label;NFCS\n"
    "01_101500.bmp;dor;5\n"
    "01_101500_2;sem dor;1,5\n"
    "01_113000.bmp;0;\n"
    "02_090000.BMP;Pain;4\n"
    "99_000000.bmp;pain;3\n"
    "12_235959.bmp;maybe;2\n"
    "02_090000.bmp;0;0\n"
    ";pain;1\n"
)


@pytest.fixture()
def unifesp_root(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "UNIFESP"
    for name in (*UNIFESP_IMAGES, *UNIFESP_BAD):
        tiny_image(root / name, fmt="BMP")
    labels = tmp_path / "labels.csv"
    labels.write_text(UNIFESP_LABELS, encoding="utf-8")
    return root, labels


def test_parse_unifesp_name() -> None:
    parsed = parse_unifesp_name("7_083015_3.bmp")
    assert (parsed.subject, parsed.time, parsed.take) == ("unifesp_07", "083015", "3")
    with pytest.raises(UnifespNameError, match="time of day"):
        parse_unifesp_name("01_246000.bmp")


def test_unifesp_import_labels_scores_and_reports(unifesp_root: tuple[Path, Path]) -> None:
    root, labels = unifesp_root
    result = import_unifesp(root, labels)
    got = {Path(s.path).name: (s.subject, s.label, s.nfcs_score, s.dataset) for s in result.samples}
    assert got == {
        "01_101500.bmp": ("unifesp_01", "pain", 5.0, "unifesp"),
        "01_101500_2.bmp": ("unifesp_01", "no_pain", 1.5, "unifesp"),
        "01_113000.BMP": ("unifesp_01", "no_pain", None, "unifesp"),
        "02_090000.bmp": ("unifesp_02", "pain", 4.0, "unifesp"),
        "12_235959.bmp": ("unifesp_12", "", None, "unifesp"),
    }
    problems = {p.where: p.reason for p in result.problems}
    assert "99_000000.bmp" in problems["labels.csv: row 6"] and "not found" in problems["labels.csv: row 6"]
    assert "unknown label 'maybe'" in problems["labels.csv: row 7"]
    assert "duplicate of row 5" in problems["labels.csv: row 8"]
    assert "empty" in problems["labels.csv: row 9"]
    for name, why in UNIFESP_BAD.items():
        assert why in problems[name]
    assert any(w.where == "12_235959.bmp" and "no row" in w.reason for w in result.warnings)


def test_unifesp_labels_csv_missing_column(tmp_path: Path) -> None:
    tiny_image(tmp_path / "imgs" / "01_101500.bmp", fmt="BMP")
    (tmp_path / "l.csv").write_text("file,score\n01_101500.bmp,3\n")
    with pytest.raises(DatasetError, match=r"l\.csv: no label column"):
        import_unifesp(tmp_path / "imgs", tmp_path / "l.csv")


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("pain", "pain"),
        ("DOR", "pain"),
        ("1", "pain"),
        ("no pain", "no_pain"),
        ("No-Pain", "no_pain"),
        ("nopain", "no_pain"),
        ("sem dor", "no_pain"),
        ("0", "no_pain"),
        (" ", ""),
    ],
)
def test_parse_label_spellings(raw: str, label: str) -> None:
    assert parse_label(raw) == label


def test_parse_label_rejects_unknown() -> None:
    with pytest.raises(LabelError, match="unknown label 'sad'"):
        parse_label("sad")


def test_read_table_tab_delimited(tmp_path: Path) -> None:
    (tmp_path / "t.tsv").write_text(" File \tLabel\r\na.bmp\tpain\r\n\r\n")
    table = read_table(tmp_path / "t.tsv")
    assert table.header == ("File", "Label") and table.rows == [(2, {"File": "a.bmp", "Label": "pain"})]


# ---------------------------------------------------------------- folder per class and CSV


@pytest.fixture()
def class_root(tmp_path: Path) -> Path:
    root = tmp_path / "mydata"
    for name in (
        "pain/b1_001.jpg",
        "pain/b2_001.png",
        "no_pain/b1_002.jpg",
        "nopain/b3_x.jpg",
        "no-pain/b4/b4_1.jpg",
        "maybe/b5_1.jpg",
        "maybe/b5_2.jpg",
        "loose.jpg",
    ):
        tiny_image(root / name)
    return root


def test_folder_per_class_default_prefix_rule(class_root: Path) -> None:
    result = import_folder(class_root)
    got = {Path(s.path).relative_to(class_root).as_posix(): (s.subject, s.label) for s in result.samples}
    assert got == {
        "pain/b1_001.jpg": ("b1", "pain"),
        "pain/b2_001.png": ("b2", "pain"),
        "no_pain/b1_002.jpg": ("b1", "no_pain"),
        "nopain/b3_x.jpg": ("b3", "no_pain"),
        "no-pain/b4/b4_1.jpg": ("b4", "no_pain"),
    }
    assert {s.dataset for s in result.samples} == {"mydata"}
    problems = {p.where: p.reason for p in result.problems}
    assert "not inside a class folder" in problems["loose.jpg"]
    assert "not a class folder" in problems["maybe/"] and "2 image(s)" in problems["maybe/"]


def test_folder_subject_from_folder_and_regex(class_root: Path) -> None:
    by_folder = import_folder(class_root, subject_from="folder", dataset="x")
    assert [(s.subject, s.dataset) for s in by_folder.samples] == [("b4", "x")]
    assert sum("no subject folder" in p.reason for p in by_folder.problems) == 4
    by_regex = import_folder(class_root, subject_regex=r"_(?P<subject>\d+)\.")
    assert sorted(s.subject for s in by_regex.samples) == ["001", "001", "002", "1"]
    assert [p.where for p in by_regex.problems if "does not match" in p.reason] == ["nopain/b3_x.jpg"]
    with pytest.raises(DatasetError, match="not valid"):
        import_folder(class_root, subject_regex="(")


def test_csv_adapter(tmp_path: Path) -> None:
    listing = tmp_path / "lists" / "study.csv"
    tiny_image(tmp_path / "lists" / "imgs" / "a.jpg")
    tiny_image(tmp_path / "lists" / "imgs" / "b.jpg")
    absolute = tiny_image(tmp_path / "elsewhere" / "c.png")
    listing.write_text(
        "Image,Baby,Class,sex\n"
        "imgs/a.jpg,k1,pain,f\n"
        f"{absolute},k2,0,M\n"
        "imgs/missing.jpg,k1,pain,F\n"
        "imgs/a.jpg,k1,pain,F\n"
        "imgs/b.jpg,k3,ouch,F\n"
        "imgs/b.jpg,,pain,F\n"
        "notes.txt,k3,pain,F\n"
    )
    result = import_csv(listing, path_column="image", subject_column="baby", label_column="class")
    got = [(Path(s.path).name, s.subject, s.label, s.sex, s.dataset) for s in result.samples]
    assert got == [("a.jpg", "k1", "pain", "F", "study"), ("c.png", "k2", "no_pain", "M", "study")]
    problems = {p.where: p.reason for p in result.problems}
    assert "not found" in problems["study.csv: row 4"]
    assert "duplicate of row 2" in problems["study.csv: row 5"]
    assert "unknown label 'ouch'" in problems["study.csv: row 6"]
    assert "empty 'Baby'" in problems["study.csv: row 7"]
    assert "not an image" in problems["study.csv: row 8"]
    with pytest.raises(DatasetError, match="no subject column"):
        import_csv(listing, path_column="IMAGE", subject_column="patient")


# ---------------------------------------------------------------- CLI

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def flat(text: str) -> str:
    return " ".join(text.split())


def test_cli_import_icope_with_custom_stimuli(icope_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    args = [
        "data",
        "import",
        "icope",
        str(icope_root),
        "--out",
        str(out),
        "--no-pain-stimuli",
        "rest,cry",
        "--no-pain-stimuli",
        "air",
    ]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "not imported (3)" in text and "S07_X_rest.jpg" in text and "photo.jpg" in text
    labels = {Path(s.path).name: s.label for s in read_manifest(out)}
    assert labels["S01_M_cry.jpg"] == labels["S01_M_air2.jpg"] == "no_pain"
    assert labels["S01_M_friciton.jpg"] == "" and labels["S05_M_painb.jpg"] == "pain"
    assert len(labels) == len(ICOPE_FILES)


def test_cli_import_unifesp_and_validate(unifesp_root: tuple[Path, Path], tmp_path: Path) -> None:
    root, labels = unifesp_root
    out = tmp_path / "u.csv"
    result = runner.invoke(
        app, ["data", "import", "unifesp", str(root), "--labels-csv", str(labels), "-o", str(out)], env=WIDE
    )
    assert result.exit_code == 0, result.output
    assert "99_000000.bmp" in flat(result.output) and "weird.bmp" in flat(result.output)
    assert len(read_manifest(out)) == len(UNIFESP_IMAGES)
    checked = runner.invoke(app, ["data", "validate", str(out)], env=WIDE)
    assert checked.exit_code == 0, checked.output
    assert "valid" in checked.output


def test_cli_import_folder_and_csv(class_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    result = runner.invoke(
        app,
        ["data", "import", "folder", str(class_root), "--out", str(out), "--subject-from", "folder"],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    assert [s.subject for s in read_manifest(out)] == ["b4"]
    listing = tmp_path / "list.csv"
    listing.write_text(f"file,who,y\n{class_root / 'pain' / 'b1_001.jpg'},s1,1\n")
    out2 = tmp_path / "c.csv"
    result = runner.invoke(
        app,
        [
            "data",
            "import",
            "csv",
            str(listing),
            "--out",
            str(out2),
            "--path-column",
            "file",
            "--subject-column",
            "who",
            "--label-column",
            "y",
        ],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    assert [(s.subject, s.label) for s in read_manifest(out2)] == [("s1", "pain")]
    before = listing.read_bytes()
    result = runner.invoke(app, ["data", "import", "csv", str(listing), "--out", str(listing)], env=WIDE)
    assert result.exit_code == 2 and "would overwrite" in result.output and listing.read_bytes() == before


def test_cli_errors_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "m.csv"
    result = runner.invoke(
        app, ["data", "import", "icope", str(tmp_path / "empty"), "--out", str(out)], env=WIDE
    )
    assert result.exit_code == 2 and "no image files found" in result.output and not out.exists()
    tiny_image(tmp_path / "junk" / "holiday.jpg")
    result = runner.invoke(
        app, ["data", "import", "icope", str(tmp_path / "junk"), "--out", str(out)], env=WIDE
    )
    assert (
        result.exit_code == 2 and "nothing imported" in flat(result.output) and "holiday.jpg" in result.output
    )
    assert not out.exists() and list(tmp_path.glob("*.part")) == []
