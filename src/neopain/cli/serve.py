"""``neopain serve`` and ``neopain db upgrade | purge``: the bedside app's commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from neopain.cli.apps import app
from neopain.cli.common import console, user_errors

db_app = typer.Typer(help="The bedside app's database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

def _settings(  # type: ignore[no-untyped-def]
    model: Path | None = None, https: bool = False, explain_checkpoint: Path | None = None,
    accept_empty_database: bool = False,
):
    from neopain.app import AppSettings

    overrides: dict[str, object] = {"https": https} if https else {}
    if accept_empty_database:
        overrides["accept_empty_database"] = True
    if model is not None:
        overrides["model_path"] = model
    if explain_checkpoint is not None:
        overrides["explain_checkpoint"] = explain_checkpoint
    return AppSettings(**overrides)


@app.command()
def serve(
    model: Annotated[Path | None, typer.Option(help="ONNX classifier (from `neopain export`).")] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback needs HTTPS.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    https: Annotated[
        bool, typer.Option("--https", help="Serve over TLS (self-signed certificate if none given).")
    ] = False,
    cert: Annotated[Path | None, typer.Option(help="Your TLS certificate (PEM).")] = None,
    key: Annotated[Path | None, typer.Option(help="Your TLS private key (PEM).")] = None,
    explain_checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="Torch checkpoint of the served model (the one exported to --model): enables "
            "'Explain this decision' on record pages when torch and captum are installed."
        ),
    ] = None,
    accept_empty_database: Annotated[
        bool,
        typer.Option(
            "--accept-empty-database",
            help="Start even though the images folder holds pictures and the database has no record "
            "(a new database beside old images: they are quarantined, never deleted).",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(min=1, max=32, help="Server processes (use PostgreSQL for more than one; see docs/SECURITY.md)."),
    ] = 1,
) -> None:
    """Serve the bedside web app (camera, history, charts) to the browsers of the ward."""
    import uvicorn

    from neopain.app import (
        ModelUnavailable,
        ServeError,
        TlsError,
        create_app,
        fingerprint,
        load_predictor,
        tls_files,
    )

    with user_errors(ServeError, TlsError, ModelUnavailable, OSError, ValueError):
        if model is not None and not model.is_file():
            raise ModelUnavailable(f"model file not found: {model}")
        if explain_checkpoint is not None and not explain_checkpoint.is_file():
            raise ServeError(f"explanation checkpoint not found: {explain_checkpoint}")
        base = _settings()
        if workers > 1 and base.database_url.startswith("sqlite"):
            raise ServeError("--workers above 1 needs PostgreSQL (set NEOPAIN_DB_URL): SQLite serves one process")
        pair = tls_files(base, host, https, cert, key)
        settings = _settings(model, https=pair is not None, explain_checkpoint=explain_checkpoint,
                             accept_empty_database=accept_empty_database)
        # One process migrates, checks and quarantines before any worker starts.
        predictor = (load_predictor(settings.model_path, settings.detector, settings.assess_lanes)
                     if settings.model_path else None)
        application = create_app(settings, predictor if workers == 1 else None)
    scheme = "https" if pair else "http"
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    behind = f" behind the proxy at {', '.join(settings.proxies)}" if settings.proxies else ""
    console.print(f"neopain bedside app on {scheme}://{shown}:{port}{behind}, {workers} process(es)  (Ctrl+C to stop)")
    if pair and cert is None:
        console.print(f"self-signed certificate, SHA-256 {fingerprint(pair[0])}")
    if predictor is None:
        console.print("[yellow]no model loaded[/yellow]: pages work, the camera cannot assess (use --model)")
    if not application.state.neopain.explainer.available:
        console.print(f"[dim]{application.state.neopain.explainer.unavailable_reason}[/dim]")
    tls = {"ssl_certfile": str(pair[0]), "ssl_keyfile": str(pair[1])} if pair else {}
    # proxy_headers off: only the app's own middleware, and only for NEOPAIN_TRUSTED_PROXIES, reads them.
    common = {"host": host, "port": port, "log_level": "warning", "access_log": False, "proxy_headers": False, **tls}
    if workers == 1:
        uvicorn.run(application, **common)
        return
    application.state.neopain.engine.dispose()
    _export_settings(settings)
    uvicorn.run("neopain.app.main:app_from_env", factory=True, workers=workers, **common)


def _export_settings(settings) -> None:  # type: ignore[no-untyped-def]
    """The command's choices, as NEOPAIN_* variables the worker processes read."""
    chosen = {"model_path": settings.model_path, "https": settings.https, "explain_checkpoint":
              settings.explain_checkpoint, "accept_empty_database": settings.accept_empty_database}
    for name, value in chosen.items():
        if value not in (None, False):
            os.environ[f"NEOPAIN_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest schema (the server also does this at start)."""
    from neopain.app import make_engine, upgrade

    engine = make_engine(_settings().database_url)
    upgrade(engine)
    console.print(f"database at the newest schema ({engine.url.render_as_string(hide_password=True)})")


@db_app.command("purge")
def db_purge(
    days: Annotated[
        float | None, typer.Option(min=0, help="Retention in days (default: $NEOPAIN_RETENTION_DAYS).")
    ] = None,
    orphans: Annotated[
        bool, typer.Option("--orphans", help="Delete quarantined orphan images instead (see --older-than).")
    ] = False,
    older_than: Annotated[
        float | None, typer.Option(min=0, help="With --orphans: only files written more than DAYS ago.")
    ] = None,
) -> None:
    """Delete the images older than the retention period (rows and labels stay; each purge is audited) and,
    with $NEOPAIN_RETENTION_ROWS_DAYS, erase babies with nothing newer; or with --orphans the quarantined
    image files that no record refers to."""
    from neopain.app import (
        ImageStore,
        make_engine,
        purge_babies,
        purge_images,
        purge_quarantine,
        session_factory,
        upgrade,
    )

    settings = _settings()
    with user_errors(ValueError):
        if orphans and older_than is None:
            raise ValueError("--orphans needs --older-than DAYS (0 deletes every quarantined file)")
        if older_than is not None and not orphans:
            raise ValueError("--older-than goes with --orphans")
        engine = make_engine(settings.database_url)
        upgrade(engine)
        if orphans:
            report = purge_quarantine(session_factory(engine), settings.quarantine_dir, older_than)
            console.print(f"deleted {report.describe()} from {settings.quarantine_dir}", markup=False)
            return
        retention = settings.retention_days if days is None else days
        if not retention and not settings.retention_rows_days:
            raise ValueError("no retention period: pass --days N or set NEOPAIN_RETENTION_DAYS")
        store = ImageStore(settings.images_dir)
        if retention:
            purged = purge_images(session_factory(engine), store, retention)
            console.print(f"purged {purged} images older than {retention:g} days")
        if settings.retention_rows_days:
            erased = purge_babies(session_factory(engine), store, settings.retention_rows_days)
            console.print(f"erased {erased} babies with nothing newer than {settings.retention_rows_days:g} days")


@db_app.command("backup")
def db_backup(folder: Annotated[Path, typer.Argument(help="A new or empty folder for the backup.")]) -> None:
    """Back up the database and the images together, with a manifest of SHA-256 hashes."""
    from neopain.app import BackupError, ImageStore, backup, make_engine, upgrade

    settings = _settings()
    with user_errors(BackupError, OSError):
        engine = make_engine(settings.database_url)
        upgrade(engine)
        report = backup(engine, ImageStore(settings.images_dir), settings.app_dir, folder)
    missing = f" ({report.missing} images vanished during the backup: purged or erased)" if report.missing else ""
    console.print(f"backed up the {report.backend} database and {report.images} image files to {folder}{missing}",
                  markup=False)


@db_app.command("restore")
def db_restore(folder: Annotated[Path, typer.Argument(help="A folder written by `neopain db backup`.")]) -> None:
    """Check a backup's hashes, then restore it into an empty database and images folder."""
    from neopain.app import (
        BackupError,
        ImageStore,
        make_engine,
        restore,
        session_factory,
        upgrade,
        verify_chain,
    )

    settings = _settings()
    with user_errors(BackupError, OSError):
        engine = make_engine(settings.database_url)
        upgrade(engine)
        manifest = restore(engine, ImageStore(settings.images_dir), settings.app_dir, folder)
        engine = make_engine(settings.database_url)
        upgrade(engine)  # a backup of an older schema comes up to date
        with session_factory(engine)() as db:
            chain = verify_chain(db)
    images = sum(1 for f in manifest["files"] if f.startswith("images/"))
    console.print(f"restored {folder}: database and {images} image files; audit chain "
                  f"{'intact' if chain.ok else 'BROKEN: ' + chain.problem} ({chain.rows} rows)", markup=False)
