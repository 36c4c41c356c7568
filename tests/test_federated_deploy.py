"""A real federation on loopback: `neopain federated server` (a Flower SuperLink, TLS with certificates
from `neopain federated certs`) and two `neopain federated site` processes, each reading only its own faces;
one site crashes after the first round and the federation finishes without it, saying so."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _train_helpers import make_faces
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data import read_manifest, write_manifest
from neopain.federated.certs import make_certs
from neopain.federated.deploy import supernode_command, write_app
from neopain.federated.server import STATE_FILE

NEOPAIN = str(Path(sys.executable).with_name("neopain"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_certs_sign_the_server_for_its_addresses(tmp_path):
    from cryptography import x509

    folder = make_certs(tmp_path / "certs", ["127.0.0.1", "fed.hospital.example"])
    ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((folder / "server.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "fed.hospital.example" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert oct((folder / "server.key").stat().st_mode)[-3:] == "600"


def test_the_app_bundle_and_the_site_command_carry_no_data(tmp_path):
    app_dir = write_app(tmp_path / "app", tmp_path / "plan.json")
    text = (app_dir / "pyproject.toml").read_text()
    assert 'serverapp = "neopain.federated.server:app"' in text and str(tmp_path / "plan.json") in text
    command = supernode_command("fed:9092", tmp_path / "my faces.csv", 'nicu "a"', None, 9100)
    config = command[command.index("--node-config") + 1]
    assert config == f'faces="{tmp_path / "my faces.csv"}" site="nicu \\"a\\""'
    assert "--insecure" in command


def test_commands_refuse_unclear_security_and_bad_faces(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["federated", "server", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--insecure" in result.output
    result = runner.invoke(app, ["federated", "site", str(tmp_path / "missing.csv"), "--server", "x:1",
                                 "--insecure"])
    assert result.exit_code == 2 and "missing.csv" in result.output


@pytest.mark.slow
def test_two_hospitals_federate_over_tls_on_loopback(tmp_path):
    manifest, _ = make_faces(tmp_path / "all", subjects=8, per_class=3, size=32)
    rows = read_manifest(manifest)
    subjects = sorted({s.subject for s in rows})
    sites = []
    for k, group in enumerate((subjects[:4], subjects[4:])):
        folder = tmp_path / f"hospital-{k}"
        keep = [s for s in rows if s.subject in group]
        for s in keep:
            (folder / s.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / s.path).write_bytes((manifest.parent / s.path).read_bytes())
        sites.append(write_manifest(keep, folder / "faces.csv"))
    certs = make_certs(tmp_path / "certs", ["127.0.0.1"])
    port = _free_port()
    env = dict(os.environ, HOME=str(tmp_path), FLWR_TELEMETRY_ENABLED="0", FLWR_DISABLE_UPDATE_CHECK="1")
    out = tmp_path / "server"
    log = (tmp_path / "server.log").open("wb")
    # Two rounds; each waits for one site at least, and at most 45 s for the others.
    server = subprocess.Popen(
        [NEOPAIN, "federated", "server", "--out", str(out), "--certs", str(certs), "--port", str(port),
         "--rounds", "2", "--min-sites", "1", "--model", "ncnn", "--input-size", "32", "--no-pretrained",
         "--batch-size", "4", "--augment", "none", "--round-timeout", "45"], env=env, stdout=log,
        stderr=subprocess.STDOUT)
    nodes = [subprocess.Popen([NEOPAIN, "federated", "site", str(m), "--server", f"127.0.0.1:{port}", "--ca",
                               str(certs / "ca.crt"), "--port", str(_free_port())], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT) for m in sites]
    try:
        deadline = time.monotonic() + 300
        while not (out / STATE_FILE).is_file() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        os.killpg(nodes[1].pid, signal.SIGKILL)  # hospital-1 crashes after round 1, its SuperNode with it
        server.wait(timeout=400)
    finally:
        for process in [server, *nodes]:
            if process.poll() is None and process in nodes:
                os.killpg(process.pid, signal.SIGTERM)
            elif process.poll() is None:
                process.terminate()
        log.close()
    assert server.returncode == 0, (tmp_path / "server.log").read_text(errors="replace")[-3000:]
    record = json.loads((out / "federation.json").read_text())
    assert set(record["sites"]) == {"hospital-0", "hospital-1"} and record["rounds"] == 2
    assert record["sites"]["hospital-0"]["rounds_trained"] == 2
    assert record["sites"]["hospital-1"]["rounds_trained"] == 1  # round 2 went on without it ...
    assert any(f["round"] == 2 and f["step"] == "train" for f in record["failures"])  # ... and says so
    assert (out / "model.pt").is_file() and (out / "model_card.md").is_file()
