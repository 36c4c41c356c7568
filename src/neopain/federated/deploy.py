"""A real federation's processes (Flower's deployment runtime): the server runs a SuperLink and submits the
neopain app to it; each hospital runs a SuperNode that reads its own faces. TLS unless told otherwise."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from neopain.federated.server import FederationError, FederationPlan
from neopain.federated.sites import read_site

APP_NAME = "neopain-federated"
CONNECTION = "neopain"  # the SuperLink connection's name in FLWR_HOME/config.toml


@dataclass(frozen=True)
class Tls:
    """Certificates: the CA every party trusts, and the server's own (certs/ of `neopain federated certs`)."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def from_dir(cls, folder: Path) -> Tls:
        tls = cls(folder / "ca.crt", folder / "server.pem", folder / "server.key")
        missing = [str(p) for p in (tls.ca, tls.cert, tls.key) if p is not None and not p.is_file()]
        if missing:
            raise FederationError(f"TLS: missing {', '.join(missing)} (make them with `neopain federated certs`)")
        return tls


def quiet_env(home: Path | None = None) -> dict[str, str]:
    """The environment of every Flower process: no telemetry, no update check, our own FLWR_HOME."""
    env = dict(os.environ, FLWR_TELEMETRY_ENABLED="0", FLWR_DISABLE_UPDATE_CHECK="1")
    # Flower starts its helpers (flower-superexec, flwr-serverapp, flwr-clientapp) by name: from this venv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if home is not None:
        env["FLWR_HOME"] = str(home)
    return env


def _tool(name: str) -> str:
    """A Flower command from this interpreter's environment (the venv neopain runs in)."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        raise FederationError(f"'{name}' not found: install neopain with the 'fed' extra (pip install neopain[fed])")
    return found


def write_app(folder: Path, plan_file: Path) -> Path:
    """The Flower app neopain submits: a pyproject naming our ServerApp and ClientApp (installed with
    neopain at every site, so the bundle carries no code) and the plan file in the run config."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{APP_NAME}"
version = "1.0.0"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "neopain"

[tool.flwr.app.components]
serverapp = "neopain.federated.server:app"
clientapp = "neopain.federated.client:app"

[tool.flwr.app.config]
plan = "{plan_file.resolve()}"
""")
    return folder


def write_connection(home: Path, address: str, tls: Tls | None) -> None:
    """FLWR_HOME/config.toml: how `flwr run` reaches our SuperLink."""
    home.mkdir(parents=True, exist_ok=True)
    secure = f'root-certificates = "{tls.ca.resolve()}"' if tls else "insecure = true"
    (home / "config.toml").write_text(f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
                                      f'address = "{address}"\n{secure}\n')


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen | None = None,
                  log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise FederationError(f"the SuperLink exited (code {process.returncode}) before it listened on {port}"
                                  + (f"; the end of {log}:\n{_tail(log)}" if log else ""))
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise FederationError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def superlink_command(host: str, port: int, tls: Tls | None) -> list[str]:
    secure = (["--ssl-ca-certfile", str(tls.ca), "--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key)]
              if tls else ["--insecure"])
    return [_tool("flower-superlink"), *secure, "--host", host, "--port", str(port),
            "--disable-runtime-dependency-installation"]


def supernode_command(server: str, faces: Path, name: str, tls: Tls | None, port: int) -> list[str]:
    secure = ["--root-certificates", str(tls.ca)] if tls else ["--insecure"]
    config = f"faces={_toml(str(faces.resolve()))} site={_toml(name)}"
    return [_tool("flower-supernode"), *secure, "--superlink", server, "--host", "127.0.0.1", "--port", str(port),
            "--node-config", config]


def _toml(text: str) -> str:
    """A TOML basic string (the node config is parsed as TOML key=value pairs)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_server(plan: FederationPlan, host: str, port: int, tls: Tls | None, log_file: Path | None = None) -> Path:
    """Start a SuperLink, submit the neopain app with ``plan``, stream its log until the last round, stop."""
    out = Path(plan.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan_file = out / "plan.json"
    plan_file.write_text(plan.to_json() + "\n")
    home = out / ".flwr"
    env = quiet_env(home)
    app_dir = write_app(out / "flower-app", plan_file)
    dial = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    write_connection(home, f"{dial}:{port}", tls)
    log = open(log_file or out / "superlink.log", "ab")  # noqa: SIM115  (open for the SuperLink's life)
    link = subprocess.Popen(superlink_command(host, port, tls), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(dial, port, 120, link, Path(log.name))
        done = subprocess.run([_tool("flwr"), "run", str(app_dir), CONNECTION, "--stream"], env=env, check=False)
        if done.returncode != 0:
            raise FederationError(f"`flwr run` failed (code {done.returncode}); see {log.name}")
    finally:
        _stop(link)
        log.close()
    model = out / "model.pt"
    if not model.is_file():
        raise FederationError(f"the federation ended without a model in {out}; see {log.name}")
    return model


def run_site(faces: Path, server: str, name: str | None, tls: Tls | None, port: int = 9094,
             extra: Sequence[str] = ()) -> int:
    """Check this hospital's faces, then serve them to the federation until the SuperNode stops."""
    site = read_site(faces, name)  # a clear error here, before anything connects
    command = [*supernode_command(server, faces, site.name, tls, port), *extra]
    process = subprocess.Popen(command, env=quiet_env())
    try:
        return process.wait()
    except KeyboardInterrupt:
        _stop(process)
        return 130


def describe(command: Sequence[str]) -> str:
    return " ".join(shlex.quote(c) for c in command)
