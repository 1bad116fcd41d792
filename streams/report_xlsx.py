"""``report.xlsx``: the three tabs of the spreadsheet support teams fill in by hand (Overview,
Charts data, Formulas), written with openpyxl. Values are numbers (ratios as fractions with
a percent format, times in seconds); a KPI without data is the text ``no data``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from streams.core.report import KPIS, NOT_DERIVABLE, Report, change, kpi_of, row_name, verdict

NO_DATA = "no data"
_FORMATS = {"ratio": "0.0%", "seconds": "#,##0.0", "count": "#,##0", "score": "0.0",
            "money": "#,##0.00", "number": "0.00"}
_BOLD = Font(bold=True)
_HEAD = PatternFill("solid", fgColor="F0F3F7")
_GOOD, _BAD = Font(color="1D7A3E", bold=True), Font(color="B42318", bold=True)
OVERVIEW_HEADER = ("Scope", "KPI", "Unit", "Better", "This month", "Last month", "Change")


def _cell(value: float | None) -> Any:
    return NO_DATA if value is None else value


def _header(ws: Any, names: tuple[str, ...] | list[str]) -> None:
    ws.append(list(names))
    for cell in ws[ws.max_row]:
        cell.font, cell.fill = _BOLD, _HEAD


def write_xlsx(report: Report, path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "Overview"
    ws.append([f"Customer service report {report.plan.month} ({report.plan.timezone}), "
               f"compared with {report.plan.previous_month}; source {report.source}"])
    _header(ws, OVERVIEW_HEADER)
    for scope in ("centre", *report.queues):
        by = report.values[scope]
        for key in report.rows(scope):
            this, last = by["this"].get(key), by["last"].get(key)
            kpi = kpi_of(key)
            unit = "seconds" if kpi.unit == "seconds" else kpi.unit
            ws.append([scope, row_name(key), unit, kpi.direction, _cell(this), _cell(last),
                       _cell(change(this, last))])
            row = ws[ws.max_row]
            for cell in row[4:7]:
                if not isinstance(cell.value, str):
                    cell.number_format = _FORMATS.get(kpi.unit, "General")
            v = verdict(key, this, last)
            if v in ("better", "worse"):
                row[6].font = _GOOD if v == "better" else _BAD
    for col, width in zip("ABCDEFG", (10, 38, 9, 9, 14, 14, 14), strict=True):
        ws.column_dimensions[col].width = width

    c = report.charts
    ws = wb.create_sheet("Charts data")
    channels = list(c["requests_by_channel"])
    _header(ws, ["Day", *(f"Requests {ch}" for ch in channels), "NPS", "CSAT", "CES",
                 "First response time (s)", "Resolution time (s)"])
    for i, day in enumerate(c["days"]):
        ws.append([day, *(c["requests_by_channel"][ch][i] for ch in channels),
                   *(_cell(c[k][i]) for k in ("nps", "csat", "ces", "frt", "resolution_time"))])
    ws.append([])
    _header(ws, ["Ticket category", "Tickets created"])
    for name, n in c["tickets_by_category"].items():
        ws.append([name, n])
    ws.append([])
    _header(ws, ["Customer month", "Retention", "Churn"])
    for month, ret, churn in zip(c["months"], c["retention"], c["churn"], strict=True):
        ws.append([month, _cell(ret), _cell(churn)])
    ws.column_dimensions["A"].width = 16

    ws = wb.create_sheet("Formulas")
    _header(ws, ["KPI", "Formula", "Families", "Better", "Month value derivable"])
    for k in KPIS:
        ws.append([k.name, k.formula, k.families, k.direction,
                   "no" if k.key in NOT_DERIVABLE else "yes"])
    for col, width in zip("ABCDE", (34, 80, 60, 9, 12), strict=True):
        ws.column_dimensions[col].width = width
    wb.save(path)
