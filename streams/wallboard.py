"""A minimal HTML floor wallboard served by the worker at ``/wallboard``.

Grafana is the real wallboard (``grafana/``); this page exists so that ``ccpulse demo`` — or
a support floor without Grafana yet — has something to put on a screen straight away. It is
rendered from the same families as ``/metrics`` (one snapshot), refreshes itself every 5 s,
and needs no JavaScript.
"""

from __future__ import annotations

from html import escape

from streams.core.metrics import Family

REFRESH_SECONDS = 5


def _by_labels(fam: Family | None) -> dict[tuple[tuple[str, str], ...], float]:
    if fam is None:
        return {}
    return {tuple(zip(fam.labels, lv, strict=True)): v for lv, v in fam.samples.items()}


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    value = round(value)
    return f"{value // 60}:{value % 60:02d}" if value >= 60 else f"{value}s"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _sl_class(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return ""
    if value >= target:
        return "good"
    return "warn" if value >= target - 0.05 else "bad"


def render_wallboard(families: list[Family]) -> str:
    """One row per queue and channel: the numbers a floor looks at first."""
    fams = {f.name: f for f in families}
    waiting = _by_labels(fams.get("cc_queue_contacts_waiting"))
    oldest = _by_labels(fams.get("cc_queue_oldest_wait_seconds"))
    sl = _by_labels(fams.get("cc_service_level_ratio"))
    target = _by_labels(fams.get("cc_service_level_target_ratio"))
    asa = _by_labels(fams.get("cc_average_speed_of_answer_seconds"))
    abandoned = _by_labels(fams.get("cc_window_contacts_abandoned"))
    offered = _by_labels(fams.get("cc_window_contacts_offered"))
    agents = _by_labels(fams.get("cc_agents"))
    rows = []
    for key in sorted(waiting):
        q, ch = dict(key)["queue"], dict(key)["channel"]

        def w(window: str, q: str = q, ch: str = ch) -> tuple[tuple[str, str], ...]:
            return (("queue", q), ("channel", ch), ("window", window))

        tgt = target.get(w("interval"))
        sl_now, sl_today = sl.get(w("interval")), sl.get(w("today"))
        free = agents.get((("queue", q), ("state", "available")))
        rows.append(
            "<tr>"
            f"<th>{escape(q)}</th><td>{escape(ch)}</td>"
            f"<td class='big'>{waiting[key]:.0f}</td>"
            f"<td>{_seconds(oldest.get(key))}</td>"
            f"<td class='big {_sl_class(sl_now, tgt)}'>{_percent(sl_now)}</td>"
            f"<td class='{_sl_class(sl_today, tgt)}'>{_percent(sl_today)}</td>"
            f"<td>{_percent(tgt)}</td>"
            f"<td>{_seconds(asa.get(w('interval')))}</td>"
            f"<td>{abandoned.get(w('today'), 0):.0f}</td>"
            f"<td>{offered.get(w('today'), 0):.0f}</td>"
            f"<td>{'–' if free is None else f'{free:.0f}'}</td>"
            "</tr>")
    body = "\n".join(rows) or "<tr><td colspan='11'>No contacts yet.</td></tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>ccpulse wallboard</title>
<style>
body {{ background:#111; color:#eee; font: 20px system-ui, sans-serif; margin: 24px; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ padding: 10px 14px; border-bottom: 1px solid #333; text-align: right; }}
th:first-child, td:nth-child(2) {{ text-align: left; }}
thead th {{ color: #aaa; font-size: 15px; text-transform: uppercase; }}
.big {{ font-size: 34px; font-weight: 700; }}
a {{ color: #8ab4f8; }}
.good {{ color: #3ecf5c; }} .warn {{ color: #f2c037; }} .bad {{ color: #ff5a4e; }}
</style></head><body>
<h1>Contact centre — live</h1>
<table><thead><tr><th>Queue</th><th>Channel</th><th>Waiting</th><th>Oldest wait</th>
<th>SL interval</th><th>SL today</th><th>Target</th><th>ASA</th><th>Abandoned today</th>
<th>Offered today</th><th>Agents free</th></tr></thead>
<tbody>
{body}
</tbody></table>
<p>Refreshes every {REFRESH_SECONDS} s · Prometheus text at <a href="/metrics">/metrics</a></p>
</body></html>
"""
