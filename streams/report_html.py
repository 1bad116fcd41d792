"""``report.html``: one self-contained page (inline CSS, inline SVG charts, no reference to
anything outside it), printed to ``report.pdf`` by headless Chromium."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from streams.core.report import KPIS, NOT_DERIVABLE, Report, change, row_name, verdict
from streams.report_format import change_text, value_text

PALETTE = ("#2f6db5", "#e07b28", "#3a9a5b", "#c23b3b", "#7f5bb5", "#8c6d3f", "#d363a8",
           "#6b7280")

CSS = """
body { font: 14px/1.4 -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif;
       color: #1f2933; margin: 24px auto; max-width: 1120px; padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 28px 0 8px;
  border-bottom: 2px solid #d9dee5; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #52606d; margin-bottom: 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e4e7eb; text-align: right; }
th { background: #f0f3f7; font-weight: 600; } td:first-child, th:first-child { text-align: left; }
td.better { color: #1d7a3e; font-weight: 600; } td.worse { color: #b42318; font-weight: 600; }
td.nodata { color: #9aa5b1; font-style: italic; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.chart { border: 1px solid #e4e7eb; border-radius: 6px; padding: 8px; break-inside: avoid; }
.chart h3 { margin: 0 0 4px; } .legend span { margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.formulas { table-layout: fixed; } .formulas th, .formulas td { text-align: left;
  vertical-align: top; } .formulas code { font-size: 11px; overflow-wrap: anywhere; }
.note { color: #52606d; font-size: 12px; }
section.scope { break-inside: auto; }
@page { size: A4; margin: 12mm; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
  tr { break-inside: avoid; } }
"""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _legend(names: Sequence[str]) -> str:
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{esc(n)}</span>'
        for i, n in enumerate(names)) + "</div>"


def _nice_max(value: float) -> float:
    """The smallest round number at or above ``value`` whose quarters are round too."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for mult in (1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8, 10):
        if mult * magnitude >= value * (1 - 1e-12):
            return mult * magnitude
    return 10 * magnitude


W, H, LEFT, BOTTOM, TOP = 520, 230, 48, 34, 10


def _axes(labels: Sequence[str], lo: float, hi: float, fmt: str) -> list[str]:
    parts = []
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        y = H - BOTTOM - (H - BOTTOM - TOP) * i / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - 6}" y2="{y:.1f}" '
                     f'stroke="#e4e7eb"/><text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#52606d">{fmt.format(v)}</text>')
    n = max(len(labels), 1)
    every = max(1, -(-n // 10))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + (W - LEFT - 6) * (i + 0.5) / n
            parts.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 14}" font-size="10" '
                         f'text-anchor="middle" fill="#52606d">{esc(label)}</text>')
    return parts


def _svg(parts: list[str], title: str) -> str:
    return (f'<svg viewBox="0 0 {W} {H}" width="100%" '
            f'role="img" aria-label="{esc(title)}">' + "".join(parts) + "</svg>")


def stacked_bars(title: str, labels: Sequence[str], series: dict[str, list[float]]) -> str:
    n = max(len(labels), 1)
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    hi = _nice_max(max(totals, default=0))
    parts = _axes(labels, 0, hi, "{:,.0f}")
    width = (W - LEFT - 6) / n
    for i in range(len(labels)):
        base = 0.0
        for k, values in enumerate(series.values()):
            v = values[i]
            if v <= 0:
                continue
            y0 = H - BOTTOM - (H - BOTTOM - TOP) * base / hi
            y1 = H - BOTTOM - (H - BOTTOM - TOP) * (base + v) / hi
            parts.append(f'<rect x="{LEFT + i * width + 1:.1f}" y="{y1:.1f}" '
                         f'width="{max(width - 2, 1):.1f}" height="{y0 - y1:.1f}" '
                         f'fill="{PALETTE[k % len(PALETTE)]}"/>')
            base += v
    return _chart(title, _svg(parts, title), list(series))


def lines(title: str, labels: Sequence[str], series: dict[str, list[float | None]],
          lo: float | None = None, hi: float | None = None, fmt: str = "{:,.0f}",
          scale: float = 1.0) -> str:
    values = [v * scale for s in series.values() for v in s if v is not None]
    if not values:
        return _chart(title, '<p class="note">no data</p>', [])
    lo = min(0.0, min(values)) if lo is None else lo
    hi = _nice_max(max(values)) if hi is None else hi
    if hi <= lo:
        hi = lo + 1
    parts = _axes(labels, lo, hi, fmt)
    n = max(len(labels), 1)
    for k, s in enumerate(series.values()):
        colour = PALETTE[k % len(PALETTE)]
        points = []
        for i, v in enumerate(s):
            if v is None:
                continue
            x = LEFT + (W - LEFT - 6) * (i + 0.5) / n
            y = H - BOTTOM - (H - BOTTOM - TOP) * (v * scale - lo) / (hi - lo)
            points.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
        if len(points) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{" ".join(points)}"/>')
    return _chart(title, _svg(parts, title), list(series))


def hbars(title: str, values: dict[str, float]) -> str:
    if not values:
        return _chart(title, '<p class="note">no data</p>', [])
    hi = _nice_max(max(values.values()))
    row = min(26.0, (H - 20) / len(values))
    parts = []
    for i, (name, v) in enumerate(values.items()):
        y = 6 + i * row
        w = (W - 190) * v / hi
        parts.append(f'<text x="110" y="{y + row * 0.65:.1f}" font-size="11" text-anchor="end" '
                     f'fill="#1f2933">{esc(name)}</text><rect x="116" y="{y + 2:.1f}" '
                     f'width="{w:.1f}" height="{row - 6:.1f}" fill="{PALETTE[0]}"/>'
                     f'<text x="{120 + w:.1f}" y="{y + row * 0.65:.1f}" font-size="11" '
                     f'fill="#52606d">{v:,.0f}</text>')
    return _chart(title, _svg(parts, title), [])


def _chart(title: str, body: str, legend: list[str]) -> str:
    return (f'<div class="chart"><h3>{esc(title)}</h3>{body}'
            f'{_legend(legend) if legend else ""}</div>')


def overview_table(report: Report, scope: str) -> str:
    by = report.values[scope]
    rows = []
    for key in report.rows(scope):
        this, last = by["this"].get(key), by["last"].get(key)
        v = verdict(key, this, last)
        cls = f' class="{v}"' if v in ("better", "worse") else ""
        rows.append(
            f"<tr><td>{esc(row_name(key))}</td>"
            f"<td{' class=nodata' if this is None else ''}>{esc(value_text(key, this))}</td>"
            f"<td{' class=nodata' if last is None else ''}>{esc(value_text(key, last))}</td>"
            f"<td{cls}>{esc(change_text(key, change(this, last)))}</td></tr>")
    return ("<table><thead><tr><th>KPI</th><th>" + esc(report.plan.month) + "</th><th>"
            + esc(report.plan.previous_month) + "</th><th>Change</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def charts_html(report: Report) -> str:
    c = report.charts
    days = [d[8:10] for d in c["days"]]
    months = c["months"]
    # months before the first with customer data are left off the chart (not off the JSON)
    first = next((i for i, v in enumerate(c["retention"]) if v is not None), len(months) - 1)
    return '<div class="charts">' + "".join((
        stacked_bars("Requests per day by channel", days, c["requests_by_channel"]),
        hbars("Tickets by category", c["tickets_by_category"]),
        lines("CSAT and CES per day (% satisfied / easy)", days,
              {"CSAT": c["csat"], "CES": c["ces"]}, lo=0, hi=100, scale=100),
        lines("NPS per day", days, {"NPS": c["nps"]}, lo=-100, hi=100),
        lines("First response and resolution time per day (hours)", days,
              {"first response": c["frt"], "resolution": c["resolution_time"]},
              scale=1 / 3600, fmt="{:,.1f}"),
        lines("Customer retention and churn per month (%)", months[first:],
              {"retention": c["retention"][first:], "churn": c["churn"][first:]}, lo=0,
              hi=100, scale=100),
    )) + "</div>"


def formulas_html() -> str:
    rows = "".join(
        f"<tr><td>{esc(k.name)}</td><td class=f>{esc(k.formula)}</td>"
        f"<td><code>{esc(k.families)}</code></td><td>{esc(k.direction)} is better</td></tr>"
        if k.direction != "neutral" else
        f"<tr><td>{esc(k.name)}</td><td class=f>{esc(k.formula)}</td>"
        f"<td><code>{esc(k.families)}</code></td><td>–</td></tr>" for k in KPIS)
    return ('<table class="formulas"><colgroup><col style="width:17%"><col style="width:43%">'
            '<col style="width:28%"><col style="width:12%"></colgroup><thead><tr><th>KPI</th>'
            "<th>formula (a month's count = the counter at its end − at its start)</th>"
            f"<th>families</th><th>direction</th></tr></thead><tbody>{rows}</tbody></table>")


def render_html(report: Report) -> str:
    plan = report.plan
    gaps = ", ".join(row_name(k) for k in NOT_DERIVABLE)
    gaps_note = ("Not derivable for a calendar month from ccpulse's exported families, so "
                 f'always "no data": {esc(gaps)} (exported only for the interval and today '
                 "windows)." if gaps else "")
    scopes = "".join(
        f'<section class="scope"><h3>{esc("Queue " + q)}</h3>{overview_table(report, q)}'
        "</section>" for q in report.queues)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Customer service report {esc(plan.month)}</title>
<style>{CSS}</style></head><body>
<h1>Customer service report — {esc(plan.month)}</h1>
<div class="meta">Month {esc(plan.month)} in {esc(plan.timezone)} (customer KPIs: calendar months
in {esc(plan.customer_timezone)}), compared with {esc(plan.previous_month)}. Source:
{esc(report.source)}. Green: better than last month, red: worse, by the KPI's direction.</div>
<h2>Overview — whole centre</h2>
{overview_table(report, "centre")}
<p class="note">No data: the KPI had nothing to measure in the month (never shown as 0).
{gaps_note}</p>
<h2>Charts — whole centre</h2>
{charts_html(report)}
<h2>Overview per queue</h2>
{scopes}
<h2>Formulas</h2>
{formulas_html()}
</body></html>
"""
