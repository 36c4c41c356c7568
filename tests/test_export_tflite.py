"""``neopain export --format tflite``: our side of the conversion (the converter's environment is separate;
bench/peers.py converts and runs real models in it). Here: the error without a converter, the metadata
beside the file, a failed conversion leaving nothing behind."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neopain.cli import app
from neopain.export import TfliteError, export_checked, to_tflite
from neopain.export.tflite import ENV_PYTHON, onnx_metadata, sidecar
from tests._export_helpers import make_checkpoint


def _stand_in(tmp_path: Path, body: str) -> Path:
    """An executable that takes the converter's arguments (-m neopain.export.tflite IN OUT) and runs ``body``."""
    script = tmp_path / "converter-python"
    script.write_text(f"#!{sys.executable}\nimport sys\nsource, out = sys.argv[3], sys.argv[4]\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tflite")
    return export_checked(make_checkpoint(folder, steps=1), folder / "model.onnx").path


def test_without_a_converter_the_error_says_what_to_set(tmp_path, onnx_model, monkeypatch) -> None:
    monkeypatch.delenv(ENV_PYTHON, raising=False)
    with pytest.raises(TfliteError, match=ENV_PYTHON):
        to_tflite(onnx_model, tmp_path / "model.tflite")
    monkeypatch.setenv(ENV_PYTHON, str(tmp_path / "missing" / "python"))
    with pytest.raises(TfliteError, match="no such Python"):
        to_tflite(onnx_model, tmp_path / "model.tflite")
    assert not (tmp_path / "model.tflite").exists()


def test_the_metadata_travels_beside_the_converted_file(tmp_path, onnx_model) -> None:
    converter = _stand_in(tmp_path, "open(out, 'wb').write(b'TFL3' + open(source, 'rb').read()[:64])")
    out = to_tflite(onnx_model, tmp_path / "model.tflite", python=converter)
    assert out.read_bytes().startswith(b"TFL3")
    meta = json.loads(sidecar(out).read_text())
    assert meta["input_layout"] == "NHWC" and "dynamic-range int8" in meta["format"]
    assert meta["metadata"] == onnx_metadata(onnx_model) and "neopain.config" in meta["metadata"]


def test_a_failed_conversion_names_the_model_and_leaves_nothing(tmp_path, onnx_model) -> None:
    converter = _stand_in(tmp_path, "open(out, 'wb').write(b'half');sys.exit('onnx2tf: unsupported op Foo')")
    with pytest.raises(TfliteError, match="unsupported op Foo") as caught:
        to_tflite(onnx_model, tmp_path / "model.tflite", python=converter)
    assert str(onnx_model) in str(caught.value)
    assert not (tmp_path / "model.tflite").exists() and not sidecar(tmp_path / "model.tflite").exists()


def test_the_cli_refuses_an_unknown_format_before_any_work(tmp_path) -> None:
    result = CliRunner().invoke(app, ["export", str(tmp_path / "best.pt"), "--out", str(tmp_path / "m.onnx"),
                                      "--format", "coreml"])
    assert result.exit_code != 0 and "onnx or tflite" in result.output
