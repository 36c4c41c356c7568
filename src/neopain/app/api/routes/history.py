"""History: babies with search, and a baby's profile with totals, charts and records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from neopain.app.api.deps import Clinician, Db, FormCsrf, State
from neopain.app.api.render import page
from neopain.app.core.audit import audit
from neopain.app.core.charts import bars_by_day, bars_by_hour, stacked_bar_svg
from neopain.app.models import Assessment, Record
from neopain.app.services.access import AccessError, break_glass, require_baby
from neopain.app.services.babies import baby_by_public_id, search_babies, summaries
from neopain.app.services.baselines import current_baseline, is_stale
from neopain.app.services.decisions import saved_observations
from neopain.app.services.observation_views import outcome, score_charts

router = APIRouter(tags=["history"])
RECORDS_SHOWN = 120
OBSERVATIONS_SHOWN = 100


def _history(request: Request, state: State, db: Db, user: Clinician, query: str) -> HTMLResponse:
    babies = search_babies(db, query, user, limit=100)
    audit(db, user, "search" if query else "view", "baby_list", str(len(babies)),
          detail={"babies": ",".join(b.public_id for b in babies)})
    db.commit()
    return page(request, state, "history.html", rows=summaries(db, babies), query=query)


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, state: State, db: Db, user: Clinician) -> HTMLResponse:
    return _history(request, state, db, user, "")


@router.post("/history", dependencies=[FormCsrf], response_class=HTMLResponse)
def history_search(
    request: Request, state: State, db: Db, user: Clinician, q: Annotated[str, Form(max_length=120)] = ""
) -> HTMLResponse:
    """Search by name with a POST: the name stays out of URLs, history and logs."""
    return _history(request, state, db, user, q)


@router.get("/babies/{baby_id}", response_class=HTMLResponse)
def profile(request: Request, state: State, db: Db, user: Clinician, baby_id: str) -> HTMLResponse:
    baby = baby_by_public_id(db, baby_id)
    if baby is None:
        raise HTTPException(404, "no such baby")
    require_baby(db, user, baby)
    events = [
        (when, label)
        for when, label in db.execute(
            select(Record.captured_at, func.coalesce(Record.confirmed_label, Record.label)).where(
                Record.baby_id == baby.id
            )
        )
    ]
    records = list(
        db.scalars(
            select(Record)
            .where(Record.baby_id == baby.id)
            .order_by(Record.captured_at.desc())
            .limit(RECORDS_SHOWN)
        )
    )
    n_assessments = db.scalar(
        select(func.count()).select_from(Assessment).where(Assessment.baby_id == baby.id)
    )
    totals = {
        "records": len(events),
        "pain": sum(1 for _, label in events if label == "pain"),
        "no_pain": sum(1 for _, label in events if label == "no_pain"),
        "assessments": int(n_assessments or 0),
        "confirmed": int(
            db.scalar(
                select(func.count())
                .select_from(Record)
                .where(Record.baby_id == baby.id, Record.confirmed_label.is_not(None))
            )
            or 0
        ),
    }
    day_bars = bars_by_day(events, state.tz)
    charts = {
        "by_day": stacked_bar_svg(day_bars, "Records per day", label_every=max(1, len(day_bars) // 7)),
        "by_hour": stacked_bar_svg(
            bars_by_hour(events, state.tz), "Records per hour of the day", label_every=3
        ),
    }
    observed = saved_observations(db, baby, OBSERVATIONS_SHOWN)
    baseline = current_baseline(db, baby)
    audit(db, user, "view", "baby", baby.public_id, subject=baby.public_id)
    db.commit()
    return page(
        request,
        state,
        "profile.html",
        baby=baby,
        totals=totals,
        charts=charts,
        records=records,
        shown=RECORDS_SHOWN,
        tz=state.tz,
        observations=observed,
        observations_shown=OBSERVATIONS_SHOWN,
        outcome=outcome,
        score_charts=score_charts(observed, state.tz),
        baseline=baseline,
        baseline_stale=baseline is not None and is_stale(baseline),
    )


@router.post("/babies/{baby_id}/break-glass", dependencies=[FormCsrf], response_class=HTMLResponse)
def open_by_break_glass(
    request: Request,
    state: State,
    db: Db,
    user: Clinician,
    baby_id: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Open another unit's baby for a while with a typed reason (audited, reviewed by the admin)."""
    baby = baby_by_public_id(db, baby_id)
    if baby is None:
        raise HTTPException(404, "no such baby")
    try:
        break_glass(db, user, baby, reason, state.settings.break_glass_hours)
    except AccessError as exc:
        db.rollback()
        return page(request, state, "outside_unit.html", 422, baby_id=baby.public_id, unit=baby.unit.name,
                    error=str(exc))
    db.commit()
    return RedirectResponse(f"/babies/{baby.public_id}", status_code=303)
