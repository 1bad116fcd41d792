"""Panel factories: the few panel shapes ccpulse dashboards use, with their settings in one place.

Each takes a title, the targets (``common.query``) and a size in grid units (24 columns
wide); the dashboard flows them left to right, top to bottom.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, common, dashboard, heatmap, stat, timeseries
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common as viz
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import heatmap as heatmap_model

from .common import DATASOURCE, GREEN, fixed_colour, steps

NO_VALUE = "-"

#: Any panel these factories make.
Panel = stat.Panel | timeseries.Panel | bargauge.Panel | heatmap.Panel


def big_stat(
    title: str,
    *targets: prom.Dataquery,
    unit: str,
    thresholds: Builder[model.ThresholdsConfig] | None = None,
    w: int,
    h: int,
    description: str = "",
    decimals: int | None = None,
    names: bool = False,
    side_by_side: bool = False,
    mappings: list[model.ValueMapping] | None = None,
) -> stat.Panel:
    """A big number with its background coloured by the thresholds (wallboard tiles).

    With ``names`` each value is labelled (``voice 3`` / ``chat 1``); several values are
    stacked, or ``side_by_side``.
    """
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .unit(unit)
        .thresholds(thresholds or steps(GREEN))
        .color_mode(viz.BigValueColorMode.BACKGROUND)
        .graph_mode(viz.BigValueGraphMode.NONE)
        .justify_mode(viz.BigValueJustifyMode.CENTER)
        .text_mode(viz.BigValueTextMode.VALUE_AND_NAME if names else viz.BigValueTextMode.VALUE)
        .orientation(viz.VizOrientation.VERTICAL if side_by_side else viz.VizOrientation.HORIZONTAL)
        .show_percent_change(False)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .no_value(NO_VALUE)
        .span(w)
        .height(h)
    )
    if description:
        panel = panel.description(description)
    if decimals is not None:
        panel = panel.decimals(decimals)
    if mappings:
        panel = panel.mappings(mappings)
    return panel


def graph(
    title: str,
    *targets: prom.Dataquery,
    unit: str,
    w: int,
    h: int,
    description: str = "",
    stacked: bool = False,
    min_value: float | None = 0,
    max_value: float | None = None,
) -> timeseries.Panel:
    """A time series with a table legend (last, max) below it."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .unit(unit)
        .line_width(2)
        .fill_opacity(30 if stacked else 10)
        .show_points(viz.VisibilityMode.NEVER)
        .legend(
            common.VizLegendOptions()
            .show_legend(True)
            .display_mode(viz.LegendDisplayMode.TABLE)
            .placement(viz.LegendPlacement.BOTTOM)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(common.VizTooltipOptions().mode(viz.TooltipDisplayMode.MULTI))
        .span(w)
        .height(h)
    )
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(viz.StackingMode.NORMAL))
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    return panel


def step_graph(
    title: str,
    *targets: prom.Dataquery,
    unit: str,
    w: int,
    h: int,
    description: str = "",
    max_value: float | None = None,
) -> timeseries.Panel:
    """A time series drawn as steps: windowed gauges change in jumps, not slopes."""
    return graph(
        title, *targets, unit=unit, w=w, h=h, description=description, max_value=max_value
    ).line_interpolation(viz.LineInterpolation.STEP_AFTER)


def bars(
    title: str, *targets: prom.Dataquery, unit: str, w: int, h: int, description: str = ""
) -> bargauge.Panel:
    """Horizontal bars, one per series (histogram buckets, states)."""
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .unit(unit)
        .min(0)
        .thresholds(steps(GREEN))
        .color_scheme(dashboard.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .display_mode(viz.BarGaugeDisplayMode.GRADIENT)
        .orientation(viz.VizOrientation.HORIZONTAL)
        .value_mode(viz.BarGaugeValueMode.TEXT)
        .name_placement(viz.BarGaugeNamePlacement.LEFT)
        .show_unfilled(True)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .no_value(NO_VALUE)
        .span(w)
        .height(h)
    )


def bucket_heatmap(
    title: str, target: prom.Dataquery, *, unit: str, w: int, h: int, description: str = ""
) -> heatmap.Panel:
    """A heatmap of pre-bucketed Prometheus histogram counts (query format ``heatmap``)."""
    return (
        heatmap.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(target)
        .calculate(False)
        .rows_frame(heatmap.RowsHeatmapOptions().layout(viz.HeatmapCellLayout.LE))
        .y_axis(heatmap.YAxisConfig().unit(unit))
        .color(
            heatmap.HeatmapColorOptions()
            .mode(heatmap_model.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .scale(heatmap_model.HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
        )
        .show_legend()
        .span(w)
        .height(h)
    )


def coloured_by_name(panel: Panel, colours: dict[str, str]) -> Panel:
    """Give each named series (legend text) its fixed colour."""
    for name, colour in colours.items():
        panel = panel.override_by_name(name, fixed_colour(colour))
    return panel


def dashed(panel: timeseries.Panel, name_regex: str) -> timeseries.Panel:
    """Draw the series whose name matches ``name_regex`` dashed (targets, reference lines)."""
    return panel.override_by_regexp(
        name_regex,
        [
            model.DynamicConfigValue(
                id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
            )
        ],
    )
