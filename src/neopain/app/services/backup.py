"""Backup and restore: the database (SQLite's online backup, or pg_dump) and the images together, with a
manifest of SHA-256 hashes that restore checks before it writes anything.

A backup is as sensitive as the ward itself (names, faces): its folder and files are 0700/0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from glob import glob
from pathlib import Path

from sqlalchemy import Engine, inspect, select
from sqlalchemy.engine import make_url

from neopain.app.core.secret import KEY_FILE
from neopain.app.core.storage import ImageStore, explanation_name
from neopain.app.models import Record, utcnow

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_FILE, PG_FILE = "database.sqlite", "database.pgdump"


class BackupError(RuntimeError):
    """A backup that cannot be made or restored; the message names the file or the reason."""


@dataclass(frozen=True)
class BackupReport:
    folder: Path
    images: int
    missing: int
    backend: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _private_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst)
        dst.flush()
        os.fsync(dst.fileno())


def pg_tool(name: str) -> str:
    """pg_dump / pg_restore: the newest installed (Debian's versioned folders first), else on PATH."""
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}")) or ([shutil.which(name)] if shutil.which(name) else [])
    if not found:
        raise BackupError(f"{name} not found: install PostgreSQL's client tools")
    return found[-1]


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries it."""
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600, check=False)
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.strip()[:500]}")


def _dump_database(engine: Engine, folder: Path) -> Path:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        target = folder / SQLITE_FILE
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        source, copy = sqlite3.connect(url.database), sqlite3.connect(target)
        try:
            source.backup(copy)  # the online backup API: a consistent copy while the server writes
        finally:
            copy.close()
            source.close()
        return target
    target = folder / PG_FILE
    dsn, env = _libpq(url.render_as_string(hide_password=False))
    _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={target}", dsn],
         env, "pg_dump")
    os.chmod(target, 0o600)
    return target


def _referenced_images(database: Path, backend: str, engine: Engine) -> list[str]:
    """The image names the dumped database refers to (read back from the dump for SQLite)."""
    if backend == "sqlite":
        with sqlite3.connect(database) as copy:
            names = [row[0] for row in copy.execute("SELECT image_name FROM records WHERE image_name IS NOT NULL")]
        return names
    with engine.connect() as connection:  # pg_dump's snapshot is gone: the live rows, a superset is fine
        return [n for n in connection.execute(select(Record.image_name)).scalars() if n]


def _audit_command(engine: Engine, action: str, where: str) -> None:
    import getpass

    from neopain.app.core.audit import CLIENT, audit
    from neopain.app.core.db import session_factory

    with session_factory(engine)() as db:
        db.info[CLIENT] = f"cli:{getpass.getuser()}"
        audit(db, None, action, "database", detail={"folder": where})
        db.commit()


def backup(engine: Engine, images: ImageStore, secret_folder: Path, folder: Path) -> BackupReport:
    """Write a complete backup into ``folder`` (new or empty); the manifest is written last."""
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder}: the backup folder must be new or empty")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    backend = engine.url.get_backend_name()
    _audit_command(engine, "backup", str(folder))  # committed first: the backup holds its own audit row
    database = _dump_database(engine, folder)
    files = {database.name: _sha256(database)}
    missing = []
    for name in _referenced_images(database, backend, engine):
        for stored in (name, explanation_name(name)):
            source = images.path_of(stored)
            if not source.is_file():
                if stored == name:
                    missing.append(name)  # purged or erased while the backup ran
                continue
            relative = Path("images") / source.relative_to(images.root)
            _private_copy(source, folder / relative)
            files[str(relative)] = _sha256(folder / relative)
    key = secret_folder / KEY_FILE
    if key.is_file():
        _private_copy(key, folder / KEY_FILE)
        files[KEY_FILE] = _sha256(folder / KEY_FILE)
    manifest = {"format": FORMAT, "created_at": utcnow().isoformat(), "backend": backend,
                "database": database.name, "files": files, "missing_images": missing}
    tmp = folder / (MANIFEST + ".part")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.chmod(tmp, 0o600)
    os.replace(tmp, folder / MANIFEST)
    return BackupReport(folder, sum(1 for f in files if f.startswith("images")), len(missing), backend)


def read_manifest(folder: Path) -> dict:
    """The manifest, after every file it lists is found with its hash; else BackupError naming the file."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"{path}: no manifest (an unfinished or foreign backup)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format')!r}")
    for relative, expected in manifest["files"].items():
        file = folder / relative
        if ".." in Path(relative).parts or not file.is_file():
            raise BackupError(f"{file}: listed in the manifest but missing")
        if _sha256(file) != expected:
            raise BackupError(f"{file}: its SHA-256 does not match the manifest (altered or damaged)")
    return manifest


def _empty(engine: Engine, images: ImageStore) -> None:
    tables = set(inspect(engine).get_table_names())
    if tables - {"alembic_version"}:
        with engine.connect() as connection:
            for table in ("users", "babies", "records", "audit_events"):
                if table in tables and connection.exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1").first():
                    raise BackupError(f"the target database already holds {table}: restore goes into an empty one")
    if images.names():
        raise BackupError(f"{images.root}: the images folder is not empty: restore goes into an empty place")


def _restore_database(engine: Engine, folder: Path, manifest: dict) -> None:
    backend = engine.url.get_backend_name()
    if backend != manifest["backend"]:
        raise BackupError(f"this backup is of a {manifest['backend']} database; the target is {backend}")
    source = folder / manifest["database"]
    if backend == "sqlite":
        engine.dispose()
        with sqlite3.connect(source) as copy, sqlite3.connect(engine.url.database) as target:
            copy.backup(target)
        return
    dsn, env = _libpq(engine.url.render_as_string(hide_password=False))
    engine.dispose()
    # --clean: the server may have created the (empty) schema at start; the backup's replaces it.
    _run([pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error",
          f"--dbname={dsn}", str(source)], env, "pg_restore")


def restore(engine: Engine, images: ImageStore, secret_folder: Path, folder: Path) -> dict:
    """Check the backup, then restore it into an empty database and images folder; returns the manifest."""
    manifest = read_manifest(folder)
    _empty(engine, images)
    _restore_database(engine, folder, manifest)
    for relative in manifest["files"]:
        if relative.startswith("images/"):
            name = Path(relative).name
            tmp = images.temp_path(name)
            shutil.copyfile(folder / relative, tmp)
            images.install(tmp, name)
    if KEY_FILE in manifest["files"]:  # the keyed hashes of the audit stay matchable
        key = secret_folder / KEY_FILE
        key.unlink(missing_ok=True)
        _private_copy(folder / KEY_FILE, key)
    _audit_command(engine, "restore", str(folder))
    return manifest
