"""A report as a list of blocks (headings, paragraphs, tables, images), rendered to Markdown or to one
self-contained HTML page (images inlined as base64 PNG, styles inline, no external asset)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str
    warning: bool = False


@dataclass
class Image:
    name: str  # file name under the report's image folder
    png: bytes
    alt: str


Block = Heading | Paragraph | Table | Image


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    lines = [f"**{table.caption}**", ""] if table.caption else []
    lines.append("| " + " | ".join(_md_cell(h) for h in table.header) + " |")
    lines.append("|" + "|".join("---" for _ in table.header) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    lines += [""] + [f"_{note}_" for note in table.notes] if table.notes else []
    return "\n".join(lines)


def to_markdown(blocks: list[Block], image_dir: str) -> str:
    """Markdown; images are linked as ``image_dir/name`` (the caller writes them there)."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            parts.append(f"> **{block.text}**" if block.warning else block.text)
        elif isinstance(block, Table):
            parts.append(_md_table(block))
        else:
            parts.append(f"![{block.alt}]({image_dir}/{block.name})")
    return "\n\n".join(parts) + "\n"


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left}
th{background:#eee}caption{text-align:left;font-weight:bold;padding:.3em 0}
.warning{background:#fff3cd;border:1px solid #e0c060;padding:.6em 1em}.note{font-size:.9em;color:#555}
img{max-width:100%}
"""


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in table.notes)
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"


def to_html(blocks: list[Block], title: str) -> str:
    """One HTML page with every image inlined."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            css = ' class="warning"' if block.warning else ""
            parts.append(f"<p{css}>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            parts.append(_html_table(block))
        else:
            data = base64.b64encode(block.png).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(block.alt)}</figcaption></figure>"
            )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def images(blocks: list[Block]) -> list[Image]:
    return [b for b in blocks if isinstance(b, Image)]


def write_images(blocks: list[Block], folder: Path) -> None:
    """The PNGs the Markdown links to (each written to a temp name, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for image in images(blocks):
        tmp = folder / f".{image.name}.part"
        tmp.write_bytes(image.png)
        tmp.replace(folder / image.name)
