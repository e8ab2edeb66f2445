"""The one HTML renderer: a page with sections, tables and embedded images, escaped throughout."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.sub{color:#666;margin-top:0}table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;border:1px solid #eee}
.good{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.note{color:#666;font-size:.9rem}
.samples td{max-width:260px;white-space:pre-wrap}
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Sequence[int] = (),
          css: str = "", raw: Sequence[int] = ()) -> str:
    """A table; cells are escaped except columns listed in ``raw`` (already HTML)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell) if i in raw else esc(cell)
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{esc(css)}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image(data_uri: str, alt: str) -> str:
    return f'<p><img src="{esc(data_uri)}" alt="{esc(alt)}"></p>'


def para(text: str, css: str = "") -> str:
    return f'<p class="{esc(css)}">{esc(text)}</p>' if css else f"<p>{esc(text)}</p>"


def page(title: str, subtitle: str, sections: Iterable[tuple[str, str]]) -> str:
    """A whole document: ``sections`` are (heading, inner HTML) pairs."""
    body = "".join(f'<section><h2>{esc(h)}</h2>{inner}</section>' for h, inner in sections)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
            f'<body><h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>{body}</body></html>')
