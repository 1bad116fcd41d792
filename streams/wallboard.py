"""A minimal HTML floor wallboard served by the worker at ``/wallboard``.

Grafana is the real wallboard (``grafana/``); this page exists so that ``ccpulse demo`` — or
a support floor without Grafana yet — has something to put on a screen straight away. It is
rendered from the same families as ``/metrics`` (one snapshot), refreshes itself every 5 s,
and needs no JavaScript. Below the queues, the back office: open tickets, first responses
overdue and today's CSAT, for the centre and per queue (left out until tickets or surveys
exist). It shows this worker's partitions: with several workers, use Grafana.
"""

from __future__ import annotations

from html import escape

from streams.core.metrics import Family

REFRESH_SECONDS = 5
#: CSAT colours: red below 70 % (the CsatDrop alert's threshold), green from 80 %.
CSAT_BAD, CSAT_GOOD = 0.7, 0.8


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


def _csat_class(value: float | None) -> str:
    """Red below 70 % (the CsatDrop alert), amber below 80 %, green from 80 %."""
    if value is None:
        return ""
    return "good" if value >= CSAT_GOOD else "warn" if value >= CSAT_BAD else "bad"


def _per_queue(fam: Family | None, **where: str) -> dict[str, float]:
    """The samples of ``fam`` summed per queue, over those whose labels match ``where``."""
    sums: dict[str, float] = {}
    for labels, value in _by_labels(fam).items():
        named = dict(labels)
        if all(named.get(k) == v for k, v in where.items()):
            sums[named["queue"]] = sums.get(named["queue"], 0) + value
    return sums


def _count(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _share(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def render_back_office(fams: dict[str, Family]) -> str:
    """Open tickets, first responses overdue and today's CSAT: three tiles for the centre and
    a row per queue. Empty when none of these families is exported (no ticket or survey
    events yet); a number whose family is missing shows "–"."""
    names = ("cc_tickets_open", "cc_tickets_awaiting_reply", "cc_tickets_first_response_overdue",
             "cc_window_csat_satisfied", "cc_window_csat_responses")
    if not any(name in fams for name in names):
        return ""
    open_, awaiting, overdue = (_per_queue(fams.get(name)) for name in names[:3])
    satisfied, responses = (_per_queue(fams.get(name), window="today") for name in names[3:])

    def total(by_queue: dict[str, float], name: str) -> float | None:
        return sum(by_queue.values()) if name in fams else None

    centre_csat = _share(total(satisfied, names[3]), total(responses, names[4]))
    centre_overdue = total(overdue, names[2])
    tiles = (
        ("Open tickets", _count(total(open_, names[0])), ""),
        ("First responses overdue", _count(centre_overdue),
         "bad" if centre_overdue else "good" if centre_overdue == 0 else ""),
        ("CSAT today", _percent(centre_csat), _csat_class(centre_csat)),
    )
    tile_html = "".join(f"<div class='tile'><div class='label'>{title}</div>"
                        f"<div class='big {cls}'>{value}</div></div>"
                        for title, value, cls in tiles)
    rows = []
    for queue in sorted({*open_, *awaiting, *overdue, *responses}):
        csat = _share(satisfied.get(queue, 0), responses.get(queue))
        late = overdue.get(queue)
        rows.append(
            f"<tr><th>{escape(queue)}</th>"
            f"<td class='big'>{_count(open_.get(queue))}</td>"
            f"<td>{_count(awaiting.get(queue))}</td>"
            f"<td class='{'bad' if late else ''}'>{_count(late)}</td>"
            f"<td class='{_csat_class(csat)}'>{_percent(csat)}</td></tr>")
    return f"""<h2>Tickets &amp; customers</h2>
<div class='tiles'>{tile_html}</div>
<table class='back-office'><thead><tr><th>Queue</th><th>Open tickets</th><th>Awaiting reply</th>
<th>Overdue</th><th>CSAT today</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
"""


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
    back_office = render_back_office(fams)
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
h2 {{ margin-top: 36px; }}
table.back-office td:nth-child(2) {{ text-align: right; }}
.tiles {{ display: flex; gap: 16px; margin-bottom: 16px; }}
.tile {{ flex: 1; background: #1c1c1c; padding: 14px 18px; border-radius: 6px; }}
.tile .label {{ color: #aaa; font-size: 15px; text-transform: uppercase; }}
.tile .big {{ font-size: 44px; }}
</style></head><body>
<h1>Contact centre — live</h1>
<table><thead><tr><th>Queue</th><th>Channel</th><th>Waiting</th><th>Oldest wait</th>
<th>SL interval</th><th>SL today</th><th>Target</th><th>ASA</th><th>Abandoned today</th>
<th>Offered today</th><th>Agents free</th></tr></thead>
<tbody>
{body}
</tbody></table>
{back_office}<p>Refreshes every {REFRESH_SECONDS} s ·
Prometheus text at <a href="/metrics">/metrics</a></p>
</body></html>
"""
