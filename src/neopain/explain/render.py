"""Pictures of explanations: the positive attribution blended over the face, paper-style grids, HTML.

Torch-free (numpy + OpenCV), so the pictures can be redrawn from saved attributions anywhere.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from neopain.core.atomic import atomic_write_bytes

__all__ = [
    "GridPager",
    "Tile",
    "blend_heatmap",
    "grid_image",
    "heatmap",
    "outline_regions",
    "side_by_side",
    "write_gallery",
    "write_png",
]

# Smoothing of the map for display only (region scores use the raw map): sigma as a fraction of the side.
SMOOTH_SIGMA_FRACTION = 0.01
DISPLAY_PERCENTILE = 99.5  # values above this percentile saturate the colour map
REGION_COLOURS_BGR = ((255, 128, 0), (0, 200, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255))


def heatmap(positive: np.ndarray) -> np.ndarray:
    """H x W in [0, 1]: the positive attribution, smoothed a little, scaled to its 99.5th percentile."""
    sigma = max(0.5, SMOOTH_SIGMA_FRACTION * positive.shape[0])
    smooth = cv2.GaussianBlur(positive.astype(np.float32), (0, 0), sigmaX=sigma)
    top = float(np.percentile(smooth, DISPLAY_PERCENTILE))
    if top <= 0:
        return np.zeros_like(smooth)
    return np.clip(smooth / top, 0.0, 1.0)


def blend_heatmap(face_bgr: np.ndarray, heat: np.ndarray, strength: float = 0.85) -> np.ndarray:
    """The face, greyed a little, with the heat map's colours laid over it where the heat is."""
    colours = cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    grey = cv2.cvtColor(cv2.cvtColor(face_bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    base = 0.6 * face_bgr.astype(np.float32) + 0.4 * grey.astype(np.float32)
    alpha = (strength * np.sqrt(heat))[..., None]  # sqrt: faint evidence still shows
    return np.clip(base * (1 - alpha) + colours.astype(np.float32) * alpha, 0, 255).astype(np.uint8)


def outline_regions(
    image: np.ndarray, polygons: Mapping[str, Sequence[np.ndarray]], scale: float = 1.0
) -> np.ndarray:
    """Draw region polygons (crop pixels, times ``scale``) in one colour per region."""
    out = image.copy()
    for colour, polys in zip(REGION_COLOURS_BGR, polygons.values()):
        pts = [np.round((np.asarray(p) + 0.5) * scale - 0.5).astype(np.int32) for p in polys if len(p) >= 3]
        cv2.polylines(out, pts, isClosed=True, color=colour, thickness=1, lineType=cv2.LINE_AA)
    return out


def _caption(width: int, lines: Sequence[str], height: int = 18) -> np.ndarray:
    strip = np.full((height * len(lines), width, 3), 255, np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(
            strip, text, (4, height * k + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (20, 20, 20), 1, cv2.LINE_AA
        )
    return strip


def side_by_side(
    face_bgr: np.ndarray, overlay_bgr: np.ndarray, lines: Sequence[str], side: int = 160
) -> np.ndarray:
    """One grid tile in the paper's style: the face, its map, and a caption (class and probability)."""
    resize = lambda im: cv2.resize(im, (side, side), interpolation=cv2.INTER_LINEAR)
    pair = np.hstack([resize(face_bgr), np.full((side, 4, 3), 255, np.uint8), resize(overlay_bgr)])
    return np.vstack([pair, _caption(pair.shape[1], lines)])


def grid_image(tiles: Sequence[np.ndarray], columns: int = 3, pad: int = 8) -> np.ndarray:
    """Tiles of equal size on a white page, ``columns`` per row."""
    if not tiles:
        raise ValueError("a grid needs at least one tile")
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    page = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        page[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = (
            tile
        )
    return page


def write_png(path: Path, image: np.ndarray) -> Path:
    """Encode and write atomically (temp file, then rename)."""
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"cannot encode {path.name} as PNG")
    return atomic_write_bytes(path, data.tobytes())


class GridPager:
    """Collects tiles and writes a grid page every ``per_page`` tiles, so a folder of any size runs in
    bounded memory. ``close`` writes the last, partial page; ``pages`` lists the files written."""

    def __init__(self, out_dir: Path, per_page: int = 12, columns: int = 3, prefix: str = "grid") -> None:
        self.out_dir, self.per_page, self.columns, self.prefix = out_dir, per_page, columns, prefix
        self.tiles: list[np.ndarray] = []
        self.pages: list[Path] = []

    def add(self, tile: np.ndarray) -> None:
        self.tiles.append(tile)
        if len(self.tiles) >= self.per_page:
            self._flush()

    def _flush(self) -> None:
        if self.tiles:
            name = f"{self.prefix}_{len(self.pages) + 1:03d}.png"
            self.pages.append(write_png(self.out_dir / name, grid_image(self.tiles, self.columns)))
            self.tiles = []

    def close(self) -> list[Path]:
        self._flush()
        return self.pages


@dataclass(frozen=True)
class Tile:
    """One gallery entry: a picture (relative to the gallery) and its caption lines."""

    picture: str
    title: str
    lines: tuple[str, ...]


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}
figure{margin:0;border:1px solid #ddd;padding:6px;border-radius:4px}
figure img{width:100%;image-rendering:pixelated}
figcaption{font-size:.85em}.fail{color:#a00}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
"""


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_gallery(
    path: Path,
    title: str,
    summary_rows: Iterable[tuple[str, str]],
    tiles: Iterable[Tile],
    failures: Iterable[tuple[str, str]],
    embed: bool = True,
) -> Path:
    """A single HTML file: summary table, one figure per image, failures. With ``embed`` the pictures
    are inlined as data URIs (the file stands alone); otherwise they are linked relative to it."""
    esc = html.escape
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        # Streamed to disk figure by figure: a large folder never holds its whole gallery in memory.
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(
                f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
                f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1><table>"
            )
            out.writelines(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in summary_rows)
            out.write("</table><h2>Images</h2><div class='grid'>")
            for tile in tiles:
                src = _data_uri(path.parent / tile.picture) if embed else esc(tile.picture)
                caption = "<br>".join(esc(line) for line in tile.lines)
                out.write(
                    f"<figure><img src='{src}' alt='{esc(tile.title)}'><figcaption><b>{esc(tile.title)}"
                    f"</b><br>{caption}</figcaption></figure>"
                )
            out.write("</div>")
            failed = list(failures)
            if failed:
                out.write("<h2>Not explained</h2><ul>")
                out.writelines(f"<li class='fail'>{esc(name)}: {esc(reason)}</li>" for name, reason in failed)
                out.write("</ul>")
            out.write("</body></html>\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
