"""`neopain users create`, `db upgrade`, `data export-labelled`, and `serve`'s network/TLS rules."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from _appkit import PASSWORD, browser_for, post_frame, scripted_frame, start_assessment
from conftest import make_settings
from typer.testing import CliRunner

import neopain.cli.accounts
import neopain.cli.labelled
import neopain.cli.serve  # noqa: F401
from neopain.app.core.tls import ServeError, check_pair, fingerprint, is_loopback, self_signed, tls_files
from neopain.app.main import create_app
from neopain.cli.apps import app as cli
from neopain.data.manifest import read_manifest, resolve_path

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEOPAIN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NEOPAIN_DB_URL", raising=False)
    return tmp_path


def test_users_create_and_db_upgrade(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    monkeypatch.setenv("NEOPAIN_NEW_PASSWORD", PASSWORD)
    made = runner.invoke(cli, ["users", "create", "--username", "nurse1", "--role", "nurse"])
    assert made.exit_code == 0, made.output
    again = runner.invoke(cli, ["users", "create", "--username", "nurse1", "--role", "nurse"])
    assert again.exit_code == 2 and "already exists" in again.output
    bad_role = runner.invoke(cli, ["users", "create", "--username", "x1", "--role", "surgeon"])
    assert bad_role.exit_code == 2 and "role" in bad_role.output
    monkeypatch.setenv("NEOPAIN_NEW_PASSWORD", "short")
    weak = runner.invoke(cli, ["users", "create", "--username", "x2", "--role", "nurse"])
    assert weak.exit_code == 2 and "password" in weak.output


def test_password_prompt_when_no_env(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEOPAIN_NEW_PASSWORD", raising=False)
    made = runner.invoke(
        cli,
        ["users", "create", "--username", "r1", "--role", "researcher"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert made.exit_code == 0, made.output


def test_export_labelled_writes_confirmed_records_only(env: Path) -> None:
    from _appkit import ScriptedPredictor, add_users

    app = create_app(make_settings(env), ScriptedPredictor())
    add_users(app)
    nurse = browser_for(app, "nurse")
    assessment, token = start_assessment(nurse, "Export Baby")
    ids = [
        post_frame(nurse, assessment, token, scripted_frame(k), uuid.uuid4().hex).json()["record_id"]
        for k in ("pain", "no_pain")
    ]
    nurse.form(f"/records/{ids[0]}/confirm", {"label": "no_pain", "actions": ["brow_bulge"]})
    out = env / "export"
    result = runner.invoke(cli, ["data", "export-labelled", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (sample,) = read_manifest(out / "manifest.csv")
    assert sample.label == "no_pain" and sample.dataset == "ward"
    assert sample.actions is not None and sample.actions["brow_bulge"] == 1 and sample.nfcs_score == 1
    assert sample.box == (8.0, 8.0, 40.0, 40.0)
    assert "Export" not in sample.subject and len(sample.subject) >= 16
    assert resolve_path(out / "manifest.csv", sample.path).read_bytes() == scripted_frame("pain")


def test_serve_refuses_the_network_without_https(env: Path) -> None:
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--https" in result.output
    missing = runner.invoke(cli, ["serve", "--model", str(env / "nope.onnx")])
    assert missing.exit_code == 2 and "model file not found" in missing.output
    garbage = env / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    broken = runner.invoke(cli, ["serve", "--model", str(garbage)])
    assert broken.exit_code == 2 and "garbage.onnx" in broken.output


def test_tls_files(env: Path) -> None:
    settings = make_settings(env)
    assert tls_files(settings, "127.0.0.1", False, None, None) is None
    with pytest.raises(ServeError):
        tls_files(settings, "192.168.1.20", False, None, None)
    cert, key = tls_files(settings, "192.168.1.20", True, None, None)
    assert cert.is_file() and key.stat().st_mode & 0o077 == 0  # the key is private
    assert self_signed(cert.parent, "192.168.1.20") == (cert, key)  # made once, reused
    from cryptography import x509

    names = (
        x509.load_pem_x509_certificate(cert.read_bytes())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert "192.168.1.20" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert len(fingerprint(cert).split(":")) == 32
    with pytest.raises(ValueError):
        check_pair(cert, None)
    assert is_loopback("localhost") and is_loopback("::1") and not is_loopback("0.0.0.0")


def test_first_login_for_the_demo(env: Path) -> None:
    from neopain.app.main import first_login

    settings = make_settings(env)
    password = first_login(settings, "demo")
    assert password and len(password) >= 8
    assert first_login(settings, "demo") is None  # an existing account is left alone
    app = create_app(settings)
    from _appkit import login

    assert login(app, "demo", password).get("/").status_code == 200


def test_serve_refuses_several_workers_on_sqlite(env: Path) -> None:
    refused = runner.invoke(cli, ["serve", "--workers", "2"])
    assert refused.exit_code == 2 and "needs PostgreSQL" in refused.output
