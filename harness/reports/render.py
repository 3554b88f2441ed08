"""Rendering helpers shared by reports: tables to Markdown/HTML/CSV, figures to PNG/SVG."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.store.atomic import write_bytes, write_text


def percent_cell(value: float, low: float, high: float) -> str:
    """A fraction and its CI as a table cell in percent: ``91.0 [86.0, 95.0]``."""
    return f"{100 * value:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def html_page(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
              notes: Sequence[str] = (), images: Sequence[str] = ()) -> str:
    """A standalone page: inline CSS, no external assets."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    note_html = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    image_html = "".join(f'<img src="{html.escape(src)}" alt="{html.escape(src)}">'
                         for src in images)
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}th:first-child,td:first-child{text-align:left}"
        "th{background:#f3f3f3}img{max-width:100%;margin-top:1em}"
        f"</style></head><body><h1>{html.escape(title)}</h1>{note_html}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"{image_html}</body></html>\n"
    )


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


#: per format, the metadata that would otherwise stamp the file with a date or a version
_METADATA: dict[str, dict[str, Any]] = {".png": {"Software": None}, ".svg": {"Date": None},
                                        ".pdf": {"CreationDate": None, "Producer": None}}


def save_figure(figure: Any, stem: Path, formats: Sequence[str] = (".png", ".svg")
                ) -> list[Path]:
    """PNG and SVG (and PDF when asked) of a matplotlib figure, without timestamps and with
    a fixed salt for the SVG's element ids (random per process otherwise), so re-renders
    are identical."""
    import matplotlib

    paths = []
    for suffix in formats:
        metadata = _METADATA[suffix]
        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "prm-harness"}):
            figure.savefig(buffer, format=suffix[1:], metadata=metadata, bbox_inches="tight",
                           dpi=150)
        path = stem.with_suffix(suffix)
        write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths
