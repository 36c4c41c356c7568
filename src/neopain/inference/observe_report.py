"""An ``Observation`` as JSON or as a self-contained HTML page (inline SVG timeline, a table of windows),
written atomically: a failure leaves no half report.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from neopain import __version__
from neopain.core.atomic import atomic_write_text
from neopain.inference.observe import PROPOSES, Observation, ObservedFrame
from neopain.inference.timeline import Series, Shade, timeline_svg
from neopain.scales.instruments import GRIMACE, Share
from neopain.scales.windows import WindowScore, tracks

REPORT_SUFFIXES = (".json", ".html", ".htm")
SYNTHETIC_NOTE = "This model was trained on synthetic faces only: a demonstration, not for clinical use."
NOT_SCORABLE = "not scorable"


def check_report_path(out: Path) -> None:
    """ValueError unless ``out`` ends in a report suffix (checked before any frame is read)."""
    if out.suffix.lower() not in REPORT_SUFFIXES:
        raise ValueError(f"{out}: a report is {', '.join(REPORT_SUFFIXES)}")


def _said(key: str) -> str:
    return key.replace("_", " ")


def window_status(ws: WindowScore) -> str:
    """"scored" (a total), "not scorable" (a facial item lacks readable frames) or "needs entered items"."""
    if ws.total is not None:
        return "scored"
    return NOT_SCORABLE if not ws.scorable else "needs entered items"


def window_message(ws: WindowScore) -> str:
    """One line saying what the window gives and why."""
    status = window_status(ws)
    if status == "scored":
        band = ws.score.interpretation
        return f"total {ws.total}" + (f": {band.label}" if band else "")
    if status == NOT_SCORABLE:
        return _unscorable(ws)
    return "no total: it needs the nurse's items " + ", ".join(_said(k) for k in ws.score.missing)


def _unscorable(ws: WindowScore) -> str:
    """The facial items without a proposal, those with the same reason said once."""
    by_reason: dict[str, list[str]] = {}
    for key, p in ws.proposals.items():
        if p.value is None:
            _, sep, why = p.reason.partition(" not scorable: ")
            by_reason.setdefault(why if sep else p.reason, []).append(_said(key))
    return NOT_SCORABLE + ": " + "; ".join(f"{why} ({', '.join(keys)})" for why, keys in by_reason.items())


def _share(share: Share) -> dict[str, Any]:
    return {"present": share.present, "readable": share.readable, "expected": share.expected,
            "unit": share.unit, "share": None if share.share is None else round(share.share, 4),
            "scorable": share.scorable}


def _window(obs: Observation, k: int, ws: WindowScore) -> dict[str, Any]:
    band = ws.score.interpretation
    return {
        "index": k, "start": ws.start, "end": ws.end,
        "readable_share": round(obs.readable_share(ws.start, ws.end), 4),
        "status": window_status(ws), "message": window_message(ws),
        "proposals": {key: {"value": p.value, "reason": p.reason} for key, p in ws.proposals.items()},
        "shares": {name: _share(s) for name, s in ws.shares.items()},
        "values": ws.score.values, "missing": list(ws.score.missing), "total": ws.total,
        "interpretation": None if band is None else band.label, "pain": ws.score.pain,
        "rules_applied": list(ws.score.applied),
    }


def _frame(f: ObservedFrame) -> dict[str, Any]:
    return {"index": f.index, "t": round(f.t, 4), "face": f.face, "reason": f.reason,
            "p_pain": None if f.p_pain is None else round(f.p_pain, 6),
            "actions": {k: None if v is None else round(v, 6) for k, v in f.actions.items()}}


def observation_dict(obs: Observation) -> dict[str, Any]:
    """The JSON report: what was read, how, and each window's proposals and score."""
    inst, video = obs.instrument, obs.video
    return {
        "neopain_version": __version__, "note": PROPOSES,
        "synthetic_model": obs.synthetic, "synthetic_note": SYNTHETIC_NOTE if obs.synthetic else None,
        "model": {"path": str(obs.model_path), "id": obs.model_id, "synthetic": obs.synthetic,
                  "nfcs_version": obs.nfcs_version, "actions": list(obs.actions)},
        "video": {"path": str(video.path), "fps": video.fps, "frames": video.frames, "width": video.width,
                  "height": video.height, "duration_s": round(video.duration_s, 4),
                  "sampled_fps": obs.sample_fps},
        "instrument": {"name": inst.name, "title": inst.title, "source": inst.source, "note": inst.note,
                       "window_s": inst.window_s, "epoch": inst.epoch, "defined_by": f"neopain {__version__}",
                       "items": [{"key": i.key, "label": i.label, "source": i.source} for i in inst.items]},
        "entered": obs.entered,
        "windows": [_window(obs, k, ws) for k, ws in enumerate(obs.windows)],
        "left_out_s": round(obs.left_out_s, 4),
        "timings_ms": {"median_per_frame": obs.stage_medians_ms(), "windows": round(obs.windows_ms, 3)},
        "frames": [_frame(f) for f in obs.frames],
    }


def _short(ws: WindowScore) -> str:
    status = window_status(ws)
    if status == "scored":
        return f"score {ws.total}"
    if status == NOT_SCORABLE:
        return NOT_SCORABLE
    return "face " + "·".join(str(p.value) for p in ws.proposals.values()) + " + nurse's items"


def _shades(obs: Observation) -> list[Shade]:
    out = []
    for k, ws in enumerate(obs.windows):
        share = obs.readable_share(ws.start, ws.end)
        reasons = "\n".join(f"{_said(key)}: {p.value if p.value is not None else '-'} ({p.reason})"
                            for key, p in ws.proposals.items())
        title = f"window {k + 1}, {ws.start:g}-{ws.end:g} s: {window_message(ws)}\n{reasons}"
        kind = "not-scorable" if window_status(ws) == NOT_SCORABLE else "scored"
        out.append(Shade(ws.start, ws.end, f"W{k + 1}: {_short(ws)}", f"{share:.0%} readable", title, kind))
    return out


def _series(obs: Observation) -> list[Series]:
    t = [f.t for f in obs.frames]
    smooth = tracks([f.reading() for f in obs.frames])
    read = {i.facial.reads for i in obs.instrument.facial_items if i.facial is not None}
    out = [Series("P(pain)", t, [f.p_pain for f in obs.frames]),
           Series("face read", t, [1.0 if f.face else None for f in obs.frames], threshold=None)]
    for action in obs.actions:
        p = smooth[action].p if action in smooth else np.full(len(t), np.nan)
        bold = action in read or GRIMACE in read
        out.append(Series(_said(action), t, [float(v) for v in p], emphasis=bold))
    return out


def timeline(obs: Observation) -> str:
    """The report's SVG: P(pain), the face found, each action's 0.5-s median track; the windows shaded."""
    title = f"{obs.video.path.name}: P(pain) and each NFCS action over time, {obs.instrument.name} windows"
    step = 1.5 / obs.sample_fps  # a longer step between frames is a hole in time: the line breaks
    return timeline_svg(obs.video.duration_s, _series(obs), _shades(obs), title, max_step_s=step)


def _table(obs: Observation) -> str:
    items = [i.key for i in obs.instrument.facial_items]
    head = "".join(f"<th>{escape(_said(k))}</th>" for k in items)
    rows = []
    for k, ws in enumerate(obs.windows):
        cells = "".join(f"<td>{'-' if p.value is None else p.value}<br><small>{escape(p.reason)}</small></td>"
                        for p in (ws.proposals[key] for key in items))
        rows.append(f'<tr class="{window_status(ws).replace(" ", "-")}"><td>W{k + 1}</td>'
                    f"<td>{ws.start:g}-{ws.end:g} s</td><td>{obs.readable_share(ws.start, ws.end):.0%}</td>"
                    f"{cells}<td>{escape(window_status(ws))}</td><td>{escape(window_message(ws))}</td></tr>")
    return (f"<table><thead><tr><th>window</th><th>time</th><th>readable frames</th>{head}<th>status</th>"
            f"<th>score</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


PAGE_STYLE = (
    "body{font:14px/1.4 sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin-top:1em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}"
    "tr.not-scorable{background:#f5f5f5;color:#666}.banner{background:#fff3cd;border:1px solid #e0c060;"
    "padding:8px;margin:1em 0}.proposes{font-size:1.1em;font-weight:bold}small{color:#555}"
)


def _facts(obs: Observation) -> str:
    v, inst = obs.video, obs.instrument
    needed = " (a total needs them)" if any(i.source == "entered" for i in inst.items) else ""
    entered = ", ".join(f"{_said(k)} = {x}" for k, x in obs.entered.items()) or f"none{needed}"
    facts = [("clip", (f"{v.path.name}: {v.duration_s:.1f} s, {v.fps:g} frames/s, {v.width}x{v.height}; "
                      f"read at {obs.sample_fps:g} frames/s ({len(obs.frames)} frames)")),
             ("model", f"{obs.model_path.name} ({obs.model_id}), {obs.nfcs_version}"),
             ("instrument", f"{inst.title} ({inst.name}), windows of {inst.window_s:g} s"),
             ("source", inst.source), ("entered items", entered)]
    if obs.left_out_s > 0:
        facts.append(("left out", f"the last {obs.left_out_s:.1f} s (shorter than a window)"))
    return "<dl>" + "".join(f"<dt>{escape(a)}</dt><dd>{escape(b)}</dd>" for a, b in facts) + "</dl>"


def render_html(obs: Observation) -> str:
    """A self-contained page: no script, no external file."""
    banner = f'<div class="banner" role="alert">{escape(SYNTHETIC_NOTE)}</div>' if obs.synthetic else ""
    name = escape(f"{obs.video.path.name}: {obs.instrument.title}")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{name}</title>'
        f"<style>{PAGE_STYLE}</style></head><body><h1>{name}</h1>{banner}"
        f'<p class="proposes">{escape(PROPOSES[0].upper() + PROPOSES[1:])}.</p>{_facts(obs)}'
        f"{timeline(obs)}<p><small>Lines break where no face passed the quality gate or an action's region "
        "was hidden: a gap, never an absence. Actions: the 0.5-s median the windows read (bold: what the "
        "instrument reads); dashed: 0.5.</small></p>"
        f"{_table(obs)}<p><small>neopain {escape(__version__)}</small></p></body></html>\n"
    )


def write_observation(obs: Observation, out: Path) -> Path:
    """JSON or HTML by suffix, written atomically."""
    check_report_path(out)
    if out.suffix.lower() == ".json":
        return atomic_write_text(out, json.dumps(observation_dict(obs), indent=2) + "\n")
    return atomic_write_text(out, render_html(obs))
