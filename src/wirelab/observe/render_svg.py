"""A :class:`~wirelab.observe.flow.Ladder` as an SVG picture and as a self-contained HTML page.

The SVG carries its own ``<style>``, so the same markup looks the same as a standalone
``.svg`` file and inline in a page; the HTML page embeds it, adds a packet table, and loads
nothing from anywhere (no script, font, image or stylesheet link), so it can be opened
offline, attached to a report, or archived with its capture.

Every arrow is a ``<g class="arrow">`` with ``data-frame`` and ``data-phase`` attributes, a
``<line>``, its flags in a ``<text class="label">`` and its details in a
``<text class="detail">``: a test (or a learner's browser tools) can find any packet.
Arrows with a trouble mark (retransmission, out-of-order, zero window ...) get the class
``alert`` and are drawn in red.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wirelab.observe.flow import Arrow, Ladder

CHAR_W = 7.3  # average advance of a 12px monospace glyph, to size the picture from text
ROW_H = 26
RULE_H = 22
TOP = 56
MIN_GAP = 170
PHASE_COLORS = {"handshake": "#e8f1fb", "data": "#edf7ed", "teardown": "#fbeee6"}

STYLE = """
.wl-ladder { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 12px; background: #ffffff; }
.wl-ladder .endpoint { font-weight: bold; fill: #1a1a1a; }
.wl-ladder .lifeline { stroke: #9a9a9a; stroke-width: 1.5; }
.wl-ladder .arrow line { stroke: #1f4e8c; stroke-width: 1.6; }
.wl-ladder .arrow.udp line { stroke: #6b3fa0; }
.wl-ladder .arrow.icmp line, .wl-ladder .arrow.icmpv6 line { stroke: #8a6d00; }
.wl-ladder .arrow.alert line { stroke: #c62828; stroke-width: 2.2; }
.wl-ladder .label { fill: #1a1a1a; }
.wl-ladder .arrow.alert .label, .wl-ladder .arrow.alert .marks { fill: #c62828; }
.wl-ladder .marks { font-weight: bold; fill: #6d6d6d; }
.wl-ladder .detail, .wl-ladder .time, .wl-ladder .num { fill: #444444; }
.wl-ladder .phase-label { font-weight: bold; fill: #333333; }
.wl-ladder .phase-rule { stroke: #555555; stroke-dasharray: 4 3; }
"""


def _text_w(text: str) -> float:
    return len(text) * CHAR_W


def _layout(ladder: Ladder) -> tuple[float, list[float]]:
    """Left margin width and the x of each lifeline."""
    margin = 20 + _text_w(f"{max(a.number for a in ladder.arrows)}  {ladder.arrows[-1].time:.6f}")
    gap: float = MIN_GAP
    for a in ladder.arrows:
        lo, hi = sorted((a.src, a.dst))
        if hi > lo:
            gap = max(gap, (_text_w(a.label) + 30) / (hi - lo))
    names = ladder.endpoints
    for i in range(len(names) - 1):
        gap = max(gap, (_text_w(names[i]) + _text_w(names[i + 1])) / 2 + 20)
    first = margin + max(_text_w(names[0]) / 2, 10) + 10
    return margin, [first + i * gap for i in range(len(names))]


def _arrow_svg(a: Arrow, y: float, xs: list[float], detail_x: float, prefix: str,
               num_x: float) -> str:
    x1, x2 = xs[a.src], xs[a.dst]
    classes = " ".join(["arrow", a.proto.lower()] + (["alert"] if a.alert else []))
    head = f"url(#{prefix}-head{'-alert' if a.alert else ''})"
    tip = f"frame {a.number}, {a.time:.6f} s: {a.info}"
    phase = f' data-phase="{a.phase}"' if a.phase else ""
    stream = f' data-stream="{a.stream}"' if a.stream is not None else ""
    parts = [f'<g class="{classes}" data-frame="{a.number}"{phase}{stream}>',
             f"<title>{escape(tip)}</title>",
             f'<text class="num" x="{num_x:.1f}" y="{y + 4:.1f}" text-anchor="end">'
             f"{a.number}</text>"
             f'<text class="time" x="{num_x + 8:.1f}" y="{y + 4:.1f}">{a.time:.6f}</text>']
    if x1 == x2:  # to itself: a small loop right of the lifeline
        path = f"M{x1:.1f},{y - 6:.1f} h24 v12 h-20"
        parts.append(f'<path d="{path}" fill="none" marker-end="{head}" '
                     f'stroke="{"#c62828" if a.alert else "#8a6d00"}" stroke-width="1.6"/>')
        label_x, anchor = x1 + 30, "start"
    else:
        end = x2 - 2 if x2 > x1 else x2 + 2
        parts.append(f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{end:.1f}" y2="{y:.1f}" '
                     f'marker-end="{head}"/>')
        label_x, anchor = (x1 + x2) / 2, "middle"
    parts.append(f'<text class="label" x="{label_x:.1f}" y="{y - 5:.1f}" '
                 f'text-anchor="{anchor}">{escape(a.label)}</text>')
    marks = "".join(f"[{m}] " for m in a.marks)
    parts.append(f'<text x="{detail_x:.1f}" y="{y + 4:.1f}">'
                 + (f'<tspan class="marks">{escape(marks)}</tspan>' if marks else "")
                 + f'<tspan class="detail">{escape(a.detail)}</tspan></text></g>')
    return "".join(parts)


def render_svg(ladder: Ladder, *, id_prefix: str = "wl") -> str:
    """The ladder as one ``<svg>`` element (with its own style and arrowhead markers)."""
    margin, xs = _layout(ladder)
    num_x = 10 + _text_w(str(max(a.number for a in ladder.arrows)))
    self_room = max((_text_w(a.label) + 40 for a in ladder.arrows if a.src == a.dst), default=0)
    detail_x = xs[-1] + max(_text_w(ladder.endpoints[-1]) / 2, 10) + 12 + self_room
    detail_w = max(_text_w("".join(f"[{m}] " for m in a.marks) + a.detail)
                   for a in ladder.arrows)
    width = detail_x + detail_w + 20
    starts = ladder.phase_starts()
    height = TOP + len(ladder.arrows) * ROW_H + len(starts) * RULE_H + 20
    body: list[str] = []
    y = TOP + 10.0
    bands: list[str] = []
    for i, a in enumerate(ladder.arrows):
        if i in starts:
            y += RULE_H
            body.append(f'<g class="phase" data-phase="{escape(starts[i].split()[0])}">'
                        f'<line class="phase-rule" x1="{margin:.1f}" y1="{y - 14:.1f}" '
                        f'x2="{width - 10:.1f}" y2="{y - 14:.1f}"/>'
                        f'<text class="phase-label" x="{margin + 4:.1f}" y="{y - 18:.1f}">'
                        f"{escape(starts[i])}</text></g>")
        if a.phase is not None:
            bands.append(f'<rect x="0" y="{y - ROW_H / 2 - 2:.1f}" width="{width:.1f}" '
                         f'height="{ROW_H:.1f}" fill="{PHASE_COLORS[a.phase]}"/>')
        body.append(_arrow_svg(a, y + 2, xs, detail_x, id_prefix, num_x))
        y += ROW_H
    bottom = height - 10
    heads = "".join(
        f'<marker id="{id_prefix}-head{suffix}" viewBox="0 0 10 10" refX="10" refY="5" '
        f'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{fill}"/></marker>'
        for suffix, fill in (("", "#1f4e8c"), ("-alert", "#c62828")))
    columns = "".join(
        f'<text class="endpoint" x="{x:.1f}" y="{TOP - 26}" text-anchor="middle">'
        f'{escape(name)}</text><line class="lifeline" x1="{x:.1f}" y1="{TOP - 16}" '
        f'x2="{x:.1f}" y2="{bottom:.1f}"/>'
        for name, x in zip(ladder.endpoints, xs, strict=True))
    title = escape(ladder.title or "ladder diagram")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="wl-ladder" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
            f'aria-label="{title}"><title>{title}</title><style>{STYLE}</style>'
            f'<defs>{heads}</defs><rect width="100%" height="100%" fill="#ffffff"/>'
            + "".join(bands) + columns + "".join(body) + "</svg>")


PAGE_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px;
  color: #1a1a1a; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 6px 0; }
p.summary { color: #555; margin: 0 0 16px 0; }
.diagram { overflow-x: auto; border: 1px solid #ddd; background: #fff; padding: 8px; }
table.packets { border-collapse: collapse; margin-top: 20px; font-size: 13px; }
table.packets th, table.packets td { border-bottom: 1px solid #e3e3e3; padding: 3px 10px;
  text-align: left; white-space: nowrap; }
table.packets td.num { text-align: right; }
table.packets tr.alert td { color: #c62828; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 8px; font-size: 12px; }
"""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render_html(ladder: Ladder, title: str | None = None) -> str:
    """A complete HTML5 page: the diagram inline and a table of its packets."""
    title = title or ladder.title or "wirelab ladder diagram"
    alerts = sum(1 for a in ladder.arrows if a.alert)
    summary = (f"{_count(len(ladder.arrows), 'packet')} between "
               f"{_count(len(ladder.endpoints), 'endpoint')}"
               + (f"; {alerts} marked" if alerts else ""))
    legend = ""
    if any(a.phase for a in ladder.arrows):
        legend = "<p class=\"legend\">phases: " + "".join(
            f'<span style="background:{color}">{name}</span>'
            for name, color in PHASE_COLORS.items()) + "</p>"
    rows = []
    for a in ladder.arrows:
        src, dst = ladder.endpoints[a.src], ladder.endpoints[a.dst]
        cls = ' class="alert"' if a.alert else ""
        rows.append(f"<tr{cls}><td class=\"num\">{a.number}</td><td>{a.time:.6f}</td>"
                    f"<td>{escape(src)}</td><td>{escape(dst)}</td><td>{escape(a.proto)}</td>"
                    f"<td>{escape(str(a.phase or ''))}</td><td>{escape(a.info)}</td></tr>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{PAGE_STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"summary\">{escape(summary)}</p>"
            f"{legend}"
            f"<div class=\"diagram\">{render_svg(ladder)}</div>"
            "<table class=\"packets\"><thead><tr><th>#</th><th>time</th><th>source</th>"
            "<th>destination</th><th>protocol</th><th>phase</th><th>info</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></body></html>\n")
