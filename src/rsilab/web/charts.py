"""The overview's charts, built with plotly in Python and drawn by plotly.js served by the app.

plotly.js ships inside the plotly wheel (package_data/plotly.min.js), so the page needs
nothing from the internet: the app serves that file itself.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

import plotly
import plotly.graph_objects as go

from rsilab.store.history import VersionRow
from rsilab.web.pages import MetricPoint

STATE_COLOUR = {
    "deployed": "#1a7f37", "approved": "#2da44e", "verified": "#0969da", "rejected": "#cf222e",
    "retired": "#8c959f", "proposed": "#bf8700",
}
SPLIT_STYLE = {"heldout": ("held-out", "circle", 11), "dev": ("dev", "diamond-open", 9)}


def plotly_js() -> Traversable:
    """plotly.js as shipped in the installed plotly package."""
    return resources.files("plotly") / "package_data" / "plotly.min.js"


def plotly_js_name() -> str:
    """A file name that changes with plotly's version, so browsers may cache it for good."""
    return f"plotly-{plotly.__version__}.min.js"


def accuracy_chart(points: list[MetricPoint], rows: dict[str, VersionRow]) -> str:
    """Accuracy with its 95 % interval, per version and split (the latest assessment of each)."""
    order = list(rows)
    latest = _latest(points)
    figure = go.Figure()
    for split, (label, symbol, size) in SPLIT_STYLE.items():
        shown = sorted((p for (_, s), p in latest.items() if s == split), key=lambda p: _position(order, p.version))
        if not shown:
            continue
        figure.add_trace(go.Scatter(
            name=label,
            x=[p.version for p in shown],
            y=[p.summary["accuracy"] for p in shown],
            mode="markers+lines" if split == "heldout" else "markers",
            line={"color": "#57606a", "width": 1, "dash": "dot"},
            marker={"symbol": symbol, "size": size,
                    "color": [STATE_COLOUR.get(str(rows[p.version].state), "#57606a") if p.version in rows else "#57606a"
                              for p in shown]},
            error_y={"type": "data", "symmetric": False,
                     "array": [p.summary["high"] - p.summary["accuracy"] for p in shown],
                     "arrayminus": [p.summary["accuracy"] - p.summary["low"] for p in shown],
                     "color": "#8c959f", "thickness": 1.2},
            customdata=[[p.round, p.summary["n"], p.summary["low"], p.summary["high"]] for p in shown],
            hovertemplate="%{x} " + label + ": %{y:.1%} [%{customdata[2]:.0%}, %{customdata[3]:.0%}]"
                          "<br>round %{customdata[0]}, n = %{customdata[1]}<extra></extra>",
        ))
    figure.update_layout(**_layout("accuracy (95 % Wilson interval)"))
    figure.update_yaxes(range=[0, 1.05], tickformat=".0%")
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=order)
    return figure.to_json()


def efficiency_chart(points: list[MetricPoint], rows: dict[str, VersionRow]) -> str:
    """Trusted cost per task: tokens counted by the broker, CPU time measured by the harness."""
    order = list(rows)
    latest = _latest(points)
    # Held-out figures where a version has them (same tasks as its rival), else dev.
    best: dict[str, MetricPoint] = {}
    for (version, split), point in latest.items():
        if split == "heldout" or version not in best:
            best[version] = point
    shown = sorted(best.values(), key=lambda p: _position(order, p.version))
    figure = go.Figure()
    figure.add_trace(go.Bar(
        name="tokens / task", x=[p.version for p in shown], y=[p.per_task["tokens"] for p in shown],
        marker={"color": "#0969da"}, hovertemplate="%{x}: %{y:.1f} tokens per task<extra></extra>",
    ))
    figure.add_trace(go.Scatter(
        name="CPU ms / task", x=[p.version for p in shown], y=[p.per_task["cpu_ms"] for p in shown], yaxis="y2",
        mode="markers+lines", marker={"color": "#bf8700", "size": 9}, line={"color": "#bf8700"},
        customdata=[p.split for p in shown], hovertemplate="%{x}: %{y:.2f} CPU ms per task (%{customdata})<extra></extra>",
    ))
    figure.update_layout(**_layout("efficiency per task"))
    figure.update_layout(yaxis={"title": {"text": "tokens"}, "rangemode": "tozero"},
                         yaxis2={"title": {"text": "CPU ms"}, "overlaying": "y", "side": "right", "rangemode": "tozero"})
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=order)
    return figure.to_json()


def _latest(points: list[MetricPoint]) -> dict[tuple[str, str], MetricPoint]:
    latest: dict[tuple[str, str], MetricPoint] = {}
    for point in points:  # in ledger order, so later assessments replace earlier ones
        latest[(point.version, point.split)] = point
    return latest


def _position(order: list[str], version: str) -> int:
    return order.index(version) if version in order else len(order)


def _layout(title: str) -> dict[str, object]:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "margin": {"l": 56, "r": 56, "t": 40, "b": 36},
        "height": 300,
        "legend": {"orientation": "h", "y": -0.18},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#f6f8fa",
        "font": {"family": "system-ui, sans-serif", "size": 12},
    }
