"""The nurse's decisions on an observation window: each facial item explicitly accepted (source "model") or
changed (source "nurse"), the other items entered; validated by ``neopain.scales.instruments.score``.

Nothing is accepted for her: a facial item with neither decision refuses the save, naming the item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from neopain.app.core.audit import audit
from neopain.app.models import Baby, Observation, User, utcnow
from neopain.app.services.observations import ObservationError
from neopain.scales.instruments import Instrument, InstrumentError, Item, instrument, score

ACCEPT, CHANGE = "accept", "change"


def _whole(inst: Instrument, item: Item, text: str) -> int | None:
    """A form value as an int (None when empty); the range is checked by ``score``."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        message = f"{inst.name}: item {item.key!r} = {text!r} is not a whole number"
        raise ObservationError(422, message) from None


def _decided(inst: Instrument, item: Item, proposals: Mapping[str, dict], form: Mapping[str, str]) -> dict:
    """One item as saved: its value, its source, the model's proposal and reason (facial items)."""
    text = form.get(f"value_{item.key}", "")
    if item.facial is None:
        return {"value": _whole(inst, item, text), "source": "nurse", "proposal": None, "reason": None}
    proposal = proposals.get(item.key) or {"value": None, "reason": "no proposal"}
    decision = form.get(f"decide_{item.key}", "")
    if decision == ACCEPT:
        value, source = proposal["value"], "model"
    elif decision == CHANGE:
        value, source = _whole(inst, item, text), "nurse"
        if value is None:
            raise ObservationError(422, f"{item.label}: choose the value you observed, or accept the "
                                        "proposal")
    else:
        raise ObservationError(422, f"{item.label}: accept the model's proposal or change it (nothing is "
                                    "accepted for you)")
    return {"value": value, "source": source, "proposal": proposal["value"], "reason": proposal["reason"]}


def save(db: Session, user: User, obs: Observation, form: Mapping[str, str]) -> None:
    """Store the decisions, the total (None unless every counted item has a value) and its reading."""
    if obs.kind != "observation" or obs.status != "proposed":
        raise ObservationError(409, "this observation was saved already" if obs.status == "saved"
                               else "this window has not ended yet")
    inst = instrument(obs.instrument or "")
    items = {item.key: _decided(inst, item, obs.proposals or {}, form) for item in inst.items}
    try:
        result = score(inst, {k: v["value"] for k, v in items.items()})
    except InstrumentError as exc:
        raise ObservationError(422, str(exc)) from exc
    obs.items, obs.total, obs.missing = items, result.total, list(result.missing)
    obs.interpretation = result.interpretation.label if result.interpretation else None
    obs.pain = result.pain
    obs.status, obs.saved_by, obs.saved_at = "saved", user.id, utcnow()
    audit(db, user, "save", "observation", obs.public_id, subject=obs.baby.public_id,
          detail={"instrument": inst.name, "total": obs.total, "model": ",".join(obs.sources("model")),
                  "nurse": ",".join(obs.sources("nurse")), "retrospective": obs.retrospective})


@dataclass(frozen=True)
class ItemView:
    """One row of the decisions form or the saved observation."""

    item: Item
    facial: bool
    proposal: int | None
    proposal_anchor: str | None
    reason: str | None
    value: int | None
    source: str | None


def _anchor(item: Item, value: int | None) -> str | None:
    return next((a.label for a in item.anchors if a.value == value), None)


def item_views(obs: Observation) -> list[ItemView]:
    inst = instrument(obs.instrument or "")
    rows = []
    for item in inst.items:
        proposed = (obs.proposals or {}).get(item.key) or {}
        saved = (obs.items or {}).get(item.key) or {}
        value = proposed.get("value")
        rows.append(ItemView(item, item.facial is not None, value, _anchor(item, value),
                             proposed.get("reason"), saved.get("value"), saved.get("source")))
    return rows


def saved_observations(db: Session, baby: Baby, limit: int = 100) -> list[Observation]:
    """The baby's saved observations, newest first."""
    return list(db.scalars(select(Observation)
                           .where(Observation.baby_id == baby.id, Observation.status == "saved")
                           .order_by(Observation.started_at.desc(), Observation.id.desc()).limit(limit)))
