"""Units and break-glass for the admin: create units, place clinicians in them, review each break-glass."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from neopain.app.api.deps import Admin, Db, FormCsrf, State
from neopain.app.api.render import commit_or_explain, page
from neopain.app.core.audit import audit
from neopain.app.models import Baby, BreakGlass, Unit, User, utcnow
from neopain.app.services.access import AccessError, create_unit, reviewable
from neopain.app.services.users import AccountError, set_units

router = APIRouter(tags=["admin"], prefix="/admin")
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _units_page(request: Request, state: State, db: Db, error: str = "", status: int = 200) -> HTMLResponse:
    counts = dict(db.execute(select(Baby.unit_id, func.count()).group_by(Baby.unit_id)).all())
    units = list(db.scalars(select(Unit).order_by(Unit.name)))
    clinicians = list(db.scalars(select(User).where(User.role != "admin").order_by(User.username)))
    return page(request, state, "units.html", status, units=units, counts=counts, clinicians=clinicians,
                error=error)


@router.get("/units", response_class=HTMLResponse)
def units(request: Request, state: State, db: Db, user: Admin) -> HTMLResponse:
    return _units_page(request, state, db)


@router.post("/units", dependencies=[FormCsrf], response_class=HTMLResponse)
def add_unit(
    request: Request, state: State, db: Db, user: Admin, name: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    return commit_or_explain(db, lambda: create_unit(db, name, user), (AccessError,), "/admin/units",
                             lambda why: _units_page(request, state, db, why, 422))


@router.post("/users/{user_id}/units", dependencies=[FormCsrf], response_class=HTMLResponse)
def set_user_units(
    request: Request,
    state: State,
    db: Db,
    user: Admin,
    user_id: Id,
    unit: Annotated[list[int] | None, Form(description="the ids of the user's units")] = None,
) -> Response:
    target = db.get(User, user_id)
    if target is None:
        raise HTTPException(404, "no such user")
    chosen = list(db.scalars(select(Unit).where(Unit.id.in_(unit or []))))
    if len(chosen) != len(set(unit or [])):
        return _units_page(request, state, db, "no such unit", 422)
    return commit_or_explain(db, lambda: set_units(db, target, chosen, user), (AccountError,), "/admin/units",
                             lambda why: _units_page(request, state, db, why, 422))


@router.get("/break-glass", response_class=HTMLResponse)
def break_glass_list(request: Request, state: State, db: Db, user: Admin) -> HTMLResponse:
    """Every break-glass not yet reviewed: who, when, which baby (opaque id), which unit, why."""
    rows = reviewable(db)
    names = dict(db.execute(select(User.id, User.username)).all())
    babies = {b.id: b for b in db.scalars(select(Baby).where(Baby.id.in_([r.baby_id for r in rows])))}
    return page(request, state, "break_glass.html", rows=rows, names=names, babies=babies, tz=state.tz)


@router.post("/break-glass/{entry_id}/review", dependencies=[FormCsrf])
def review_break_glass(db: Db, user: Admin, entry_id: Id) -> Response:
    entry = db.get(BreakGlass, entry_id)
    if entry is None:
        raise HTTPException(404, "no such break-glass entry")
    entry.reviewed_by, entry.reviewed_at = user.id, utcnow()
    audit(db, user, "review", "break_glass", str(entry.id))
    db.commit()
    return RedirectResponse("/admin/break-glass", status_code=303)
