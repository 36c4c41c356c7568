"""One explanation run over many inputs: IG in batches, pictures, ``regions.csv``, ``summary.json``,
``index.html``. Memory is bounded by the batch size (rows of numbers are all that is kept).

Out dir: ``images/ig_NNNNN.png`` (attribution over the face), ``tiles/ig_NNNNN.png`` (face | map with
the placed regions outlined | class and probability), ``grid_NNN.png`` (12 tiles a page, the paper's
figure style), ``regions.csv`` (one row per input, failures included), ``summary.json``, ``index.html``.
Output files are numbered, never named after the inputs (file names may carry identities).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neopain.core.atomic import atomic_write_bytes as atomic_write
from neopain.explain.ig import Attribution, IGSettings, explain_crops, target_index
from neopain.explain.inputs import Item, Missed, iter_items
from neopain.explain.render import (
    GridPager,
    Tile,
    blend_heatmap,
    heatmap,
    outline_regions,
    side_by_side,
    write_gallery,
    write_png,
)
from neopain.faces import LandmarkError, mask_shares, place_regions, region_shares
from neopain.scales.nfcs import REGIONS

__all__ = ["CSV_FIELDS", "RunOptions", "RunSummary", "run_explain", "summarise_rows"]

CSV_FIELDS = (
    "index",
    "input",
    "status",
    "reason",
    "label",
    "predicted",
    "probability",
    "target",
    "output",
    "f_input",
    "f_baseline",
    "attribution_sum",
    "gap",
    "steps",
    "converged",
    "layout",
    *(f"share_{r}" for r in REGIONS),
    "share_any",
    *(f"visible_{r}" for r in REGIONS),
    "clipped",
    "present_regions",
    "true_present",
    "true_any",
    "true_present_area",
    "true_any_area",
    "picture",
)


@dataclass(frozen=True)
class RunOptions:
    ig: IGSettings = field(default_factory=IGSettings)
    detector: str = "yunet"
    margin: float | None = None  # None: the crop margin training used (the checkpoint's), else 0.25 (none recorded)
    align: bool | None = None
    batch_size: int = 8  # crops per IG call
    limit: int | None = None
    embed: bool = True  # inline the pictures in index.html
    device: str = "cpu"


@dataclass
class RunSummary:
    out_dir: Path
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    grids: list[Path]


def _batches(items: Iterable[Item | Missed], size: int) -> Iterator[list[Item | Missed]]:
    batch: list[Item | Missed] = []
    for item in items:
        batch.append(item)
        if sum(isinstance(b, Item) for b in batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else round(value, 6)
    return value


def score_item(item: Item, attr: Attribution) -> tuple[dict[str, Any], dict[str, list[np.ndarray]] | None]:
    """Region shares (placed and, when known, true) of one explained item; the polygons for drawing."""
    positive = attr.positive
    row: dict[str, Any] = {"layout": item.layout}
    polygons = None
    try:
        layout = place_regions(item.landmarks, positive.shape)
    except LandmarkError as exc:
        row["layout"] = f"{item.layout}: {exc}"
    else:
        polygons = layout.polygons
        row.update({f"share_{k}": v for k, v in region_shares(positive, layout).items()})
        row.update({f"visible_{r}": layout.visible[r] for r in REGIONS})
        row["clipped"] = ";".join(layout.clipped)
    if item.present is not None:
        row["present_regions"] = ";".join(item.present)
    if item.mask is not None:
        row.update(mask_shares(positive, item.mask, item.present or []))
    return row, polygons


def _explained_row(
    index: int, item: Item, attr: Attribution, labels: Sequence[str], picture: str
) -> dict[str, Any]:
    return {
        "index": index,
        "input": item.name,
        "status": "ok",
        "label": item.label,
        "predicted": labels[attr.predicted],
        "probability": attr.probability,
        "target": attr.target_label,
        "output": attr.output,
        "f_input": attr.f_input,
        "f_baseline": attr.f_baseline,
        "attribution_sum": attr.total,
        "gap": attr.gap,
        "steps": attr.steps,
        "converged": int(attr.converged),
        "picture": picture,
    }


class _Writer:
    """Pictures and rows of one run."""

    def __init__(self, out_dir: Path, labels: Sequence[str]) -> None:
        self.out_dir, self.labels = out_dir, tuple(labels)
        self.grid = GridPager(out_dir)
        self.rows: list[dict[str, Any]] = []

    def explained(self, index: int, item: Item, attr: Attribution) -> None:
        name = f"ig_{index:05d}.png"
        row = _explained_row(index, item, attr, self.labels, f"tiles/{name}")
        scores, polygons = score_item(item, attr)
        row.update(scores)
        heat = heatmap(attr.positive)
        overlay = blend_heatmap(attr.crop, heat)
        write_png(self.out_dir / "images" / name, overlay)
        side = max(160, attr.crop.shape[0])
        outlined = outline_regions(
            overlay if side == overlay.shape[0] else _resize(overlay, side),
            polygons or {},
            side / overlay.shape[0],
        )
        caption = [
            f"{row['predicted']} {100 * attr.probability:.1f}%  (#{index})",
            f"gap {100 * attr.gap:.1f}% @ {attr.steps} steps"
            + (f"  true: {item.label}" if item.label else ""),
        ]
        tile = side_by_side(attr.crop, outlined, caption, side=side)
        write_png(self.out_dir / "tiles" / name, tile)
        self.grid.add(tile)
        self.rows.append(row)

    def missed(self, index: int, missed: Missed) -> None:
        self.rows.append({"index": index, "input": missed.name, "status": "failed", "reason": missed.reason})


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v not in (None, "") and not (isinstance(v, float) and math.isnan(v))]
    return round(float(np.mean(vals)), 4) if vals else None


def _group(rows: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get(key):
            groups.setdefault(row[key], []).append(row)
    out = {}
    for name, members in sorted(groups.items()):
        entry: dict[str, Any] = {"images": len(members)}
        entry.update({f"share_{r}": _mean(m.get(f"share_{r}") for m in members) for r in (*REGIONS, "any")})
        if any(m.get("true_present") not in (None, "") for m in members):
            entry["true_present_mean"] = _mean(m.get("true_present") for m in members)
            entry["true_any_mean"] = _mean(m.get("true_any") for m in members)
            entry["true_present_area_mean"] = _mean(m.get("true_present_area") for m in members)
            entry["true_any_area_mean"] = _mean(m.get("true_any_area") for m in members)
            entry["true_present_images"] = sum(
                1
                for m in members
                if isinstance(m.get("true_present"), float) and not math.isnan(m["true_present"])
            )
        out[name] = entry
    return out


def summarise_rows(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts, completeness and the per-class aggregates of the region shares (means over images)."""
    ok = [r for r in rows if r.get("status") == "ok"]
    gaps = [float(r["gap"]) for r in ok]
    steps: dict[str, int] = {}
    for r in ok:
        steps[str(r["steps"])] = steps.get(str(r["steps"]), 0) + 1
    return {
        "images": len(rows),
        "explained": len(ok),
        "failed": [{"input": r["input"], "reason": r["reason"]} for r in rows if r.get("status") != "ok"],
        "completeness": {
            "max_gap": round(max(gaps), 6) if gaps else None,
            "mean_gap": round(float(np.mean(gaps)), 6) if gaps else None,
            "not_converged": sum(1 for r in ok if not r["converged"]),
            "steps_used": steps,
        },
        "by_predicted": _group(ok, "predicted"),
        "by_label": _group(ok, "label"),
        "clipped_images": sum(1 for r in ok if r.get("clipped")),
    }


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_FIELDS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _fmt(v) for k, v in row.items()} for row in rows)
    return atomic_write(path, buffer.getvalue().encode("utf-8"))


def _gallery_rows(summary: dict[str, Any], header: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [(k, str(v)) for k, v in header.items()]
    comp = summary["completeness"]
    rows += [
        ("explained", f"{summary['explained']} of {summary['images']}"),
        ("completeness gap (max / mean)", f"{comp['max_gap']} / {comp['mean_gap']}"),
    ]
    for name, entry in summary["by_label"].items():
        if entry.get("true_present_mean") is not None:
            rows.append(
                (
                    f"share in true present regions, label {name}",
                    f"{entry['true_present_mean']} (their area: {entry['true_present_area_mean']})",
                )
            )
    for name, entry in summary["by_predicted"].items():
        shares = ", ".join(f"{r} {entry[f'share_{r}']}" for r in (*REGIONS, "any"))
        rows.append((f"placed-region shares, predicted {name}", shares))
    return rows


def run_explain(
    checkpoint: str | Path,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    options: RunOptions | None = None,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> RunSummary:
    """Explain every input with the checkpoint's model; write everything under ``out_dir``."""
    from neopain.train import crop_for, load_checkpoint

    options = options or RunOptions()
    out_dir = Path(out_dir)
    model, cfg, ckpt = load_checkpoint(checkpoint, device=options.device)
    target_index(options.ig.target, cfg)  # a bad --target fails now, not after the first batch
    crop = crop_for(ckpt, cfg.input_size, options.margin, options.align)
    items = iter_items(inputs, cfg.input_size, options.detector, crop, options.limit)
    writer = _Writer(out_dir, cfg.labels)
    index = 0
    batches = _batches(items, options.batch_size)
    for batch in progress(batches, -1) if progress else batches:
        found = [(index + k, b) for k, b in enumerate(batch) if isinstance(b, Item)]
        attrs = explain_crops(model, cfg, [b.crop for _, b in found], options.ig, [i for i, _ in found])
        explained = dict(zip((i for i, _ in found), attrs))
        for k, entry in enumerate(batch):
            if isinstance(entry, Item):
                writer.explained(index + k, entry, explained[index + k])
            else:
                writer.missed(index + k, entry)
        index += len(batch)
    grids = writer.grid.close()
    summary = summarise_rows(writer.rows)
    header = {
        "checkpoint": str(checkpoint),
        "model": cfg.name,
        "input_size": cfg.input_size,
        "detector": options.detector,
        **{f"ig_{k}": v for k, v in asdict(options.ig).items()},
    }
    summary = {**header, "grids": [p.name for p in grids], **summary}
    _write_csv(out_dir / "regions.csv", writer.rows)
    atomic_write(out_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    tiles = (
        Tile(
            r["picture"],
            f"#{r['index']} {r['input']}",
            (f"predicted {r['predicted']} ({100 * r['probability']:.1f}%)", f"layout: {r['layout']}"),
        )
        for r in writer.rows
        if r.get("status") == "ok"
    )
    failures = ((r["input"], r["reason"]) for r in writer.rows if r.get("status") != "ok")
    write_gallery(
        out_dir / "index.html",
        f"Integrated Gradients: {cfg.name}",
        _gallery_rows(summary, header),
        tiles,
        failures,
        embed=options.embed,
    )
    return RunSummary(out_dir, writer.rows, summary, grids)
