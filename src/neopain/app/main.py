"""The app factory: ``create_app(settings, predictor=None)`` builds a ready FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from neopain.app import openapi
from neopain.app.api.deps import (
    SESSION_COOKIE,
    AppState,
    CsrfFailed,
    Forbidden,
    NotAuthenticated,
    PasswordChangeRequired,
)
from neopain.app.api.routes import (
    account,
    admin,
    admin_units,
    assessments,
    audit,
    auth,
    evidence,
    explanations,
    history,
    observations,
    pages,
    records,
    reviews,
)
from neopain.app.core.db import make_engine, session_factory, upgrade
from neopain.app.core.explanations import Explainer
from neopain.app.core.inference import PredictorHolder, PredictorLike
from neopain.app.core.limits import BodyLimit
from neopain.app.core.ratelimit import Limits, LoginThrottle
from neopain.app.core.secret import app_secret
from neopain.app.core.security import HashingBusy
from neopain.app.core.settings import AppSettings
from neopain.app.core.storage import ImageStore
from neopain.app.services.access import OutsideUnit
from neopain.app.services.orphans import EmptyDatabase, quarantine_orphans, refuse_empty_database
from neopain.core.log import get_logger

HERE = Path(__file__).resolve().parent
BODY_SLACK = 64 * 1024  # room for the multipart envelope and form fields around a frame
log = get_logger(__name__)

# 'self' only: no CDN, no inline script; blob:/mediastream: for the camera preview.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def create_app(settings: AppSettings | None = None, predictor: PredictorLike | None = None) -> FastAPI:
    """Migrate the database, quarantine orphan images and wire routes; ``predictor`` overrides the file.

    Raises EmptyDatabase when the images folder holds pictures and the database has no record.
    """
    settings = settings or AppSettings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    images = ImageStore(settings.images_dir)
    secret = app_secret(settings.secret_key.get_secret_value() if settings.secret_key else None, settings.app_dir)
    sessions = session_factory(engine)
    limits = Limits(settings.login_max_failures, settings.login_max_per_address, settings.login_window_seconds)
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        predictor=PredictorHolder(predictor, settings.model_path, settings.detector, settings.assess_lanes),
        images=images,
        templates=Jinja2Templates(directory=HERE / "templates"),
        tz=ZoneInfo(settings.timezone),
        throttle=LoginThrottle(sessions, secret, limits),
        explainer=Explainer(
            settings.explain_checkpoint,
            images,
            settings.detector,
            settings.explain_timeout_seconds,
            settings.explain_steps,
        ),
        secret=secret,
    )
    if not settings.accept_empty_database:
        try:
            refuse_empty_database(state.sessions, images, engine.url.render_as_string(hide_password=True))
        except EmptyDatabase:
            engine.dispose()
            raise
    moved = quarantine_orphans(state.sessions, images, settings.quarantine_dir, settings.orphan_grace_minutes * 60)
    if moved.count:
        log.warning("quarantined %s in %s (`neopain db purge --orphans` deletes them)",
                    moved.describe(), settings.quarantine_dir)
    housekeeping(state)
    app = FastAPI(title="neopain bedside", docs_url=None, redoc_url=None, lifespan=periodic_housekeeping)
    app.state.neopain = state
    routes = (auth, account, pages, assessments, history, records, explanations, evidence, observations,
              reviews, admin, admin_units, audit)
    for module in routes:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _add_error_handlers(app)
    openapi.install(app)
    # Inner to the headers middleware, so its 413 answers carry the security headers too.
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes + BODY_SLACK,
                       wider=[(reviews.REVIEW_PATH, settings.max_clip_bytes + BODY_SLACK)])
    _add_headers(app)
    if settings.proxies:
        # Outermost: the client address and scheme the proxy forwarded, believed only from the proxy itself.
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxies)
    return app


def app_from_env() -> FastAPI:
    """The app of one server worker (``neopain serve --workers N``): settings and model from NEOPAIN_*."""
    from neopain.app.core.inference import load_predictor

    settings = AppSettings()
    predictor = load_predictor(settings.model_path, settings.detector) if settings.model_path else None
    return create_app(settings, predictor)


def housekeeping(state: AppState) -> None:
    """Delete expired sessions and login counters; purge what the retention period says is due."""
    from neopain.app.core.sessions import delete_expired_sessions
    from neopain.app.services.clips import clear_stale
    from neopain.app.services.retention import purge_babies, purge_drafts, purge_images

    with state.sessions() as db:
        sessions = delete_expired_sessions(db, state.settings.lifetimes)
        db.commit()
    state.throttle.sweep()
    settings = state.settings
    drafts = purge_drafts(state.sessions, settings.observation_draft_hours)
    clear_stale(settings.app_dir / "tmp")
    purged = purge_images(state.sessions, state.images, settings.retention_days) if settings.retention_days else 0
    erased = purge_babies(state.sessions, state.images, settings.retention_rows_days) \
        if settings.retention_rows_days else 0
    if sessions or purged or erased or drafts:
        log.info("housekeeping: %d expired sessions deleted, %d images purged, %d babies erased, "
                 "%d unsaved observation windows deleted", sessions, purged, erased, drafts)


@asynccontextmanager
async def periodic_housekeeping(app: FastAPI) -> AsyncIterator[None]:
    """While serving, run the housekeeping every ``purge_every_minutes`` (in a worker thread)."""
    state: AppState = app.state.neopain

    async def loop() -> None:
        while True:
            await asyncio.sleep(state.settings.purge_every_minutes * 60)
            try:
                await asyncio.to_thread(housekeeping, state)
            except Exception:  # retried next time; serving goes on
                log.exception("housekeeping failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()


def first_login(settings: AppSettings, username: str = "nurse", role: str = "nurse") -> str | None:
    """For the demo: make sure ``username`` exists; returns its new random password, or None if it existed."""
    from neopain.app.core.db import session_scope
    from neopain.app.services.users import ensure_user

    engine = make_engine(settings.database_url)
    upgrade(engine)
    with session_scope(session_factory(engine)) as db:
        password = ensure_user(db, username, role)
    engine.dispose()
    return password


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _add_error_handlers(app: FastAPI) -> None:
    def error_page(request: Request, status: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        from neopain.app.api.render import page

        return page(request, request.app.state.neopain, "error.html", status, status=status, message=message)

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, _exc: Exception) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "not logged in (or logged out after inactivity)"}, status_code=401)
        target = "/login?expired=1" if request.cookies.get(SESSION_COOKIE) else "/login"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.exception_handler(PasswordChangeRequired)
    async def password_change_required(request: Request, _exc: Exception) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "choose a new password first (/account/password)"}, status_code=403)
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(HashingBusy)
    async def hashing_busy(request: Request, exc: Exception) -> Response:
        response = error_page(request, 503, str(exc))
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(OutsideUnit)
    async def outside_unit(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OutsideUnit)
        if _wants_json(request):
            return JSONResponse({"detail": "this baby belongs to another unit"}, status_code=403)
        from neopain.app.api.render import page

        return page(request, request.app.state.neopain, "outside_unit.html", 403, baby_id=exc.baby_public_id,
                    unit=exc.unit_name, error="")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc: Exception) -> Response:
        return error_page(request, 403, "Your role does not allow this page.")

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: Exception) -> Response:
        return error_page(request, 403, "The form expired or came from elsewhere; go back and try again.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(DataError)
    async def refused_by_database(request: Request, _exc: Exception) -> Response:
        # PostgreSQL refuses some text (a NUL byte) that Python accepts: the client's input, not our fault.
        return error_page(request, 422, "invalid input: the database cannot store a value sent (a NUL byte?)")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_page(request, 422, f"invalid input: {where} {first.get('msg', '')}".strip())


def _add_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if request.app.state.neopain.settings.secure_cookies:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"  # patient pages never land in a cache
        return response
