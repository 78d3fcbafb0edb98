#!/usr/bin/python3
"""Render the figures that a `pipar sweep` results file supports, as PNG files.

Usage: bench/plot_results.py RESULTS.h5 [--out-dir DIR] [--only NAME,...]

Prints `wrote PATH` for every PNG written and `skipped NAME.png: REASON` for
every figure the file's points cannot support. docs/figures.md describes each
figure and the sweep parameters it needs.
"""
import argparse
import math
import os
import sys

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

# Columns of the events table, as documented in docs/results.md.
RESOURCE, CLIENT, KIND, ROUND, BATCH, MICRO_BATCH, START, END = range(8)
SERVER_COMPUTE, CLIENT_COMPUTE, UPLINK, DOWNLINK = range(4)
KIND_NAMES = ["forward", "backward", "optimizer step", "upload", "download", "aggregate",
              "evaluate", "load data"]
EVALUATE, LOAD_DATA = 6, 7
KIND_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:red",
                "tab:gray", "tab:olive"]

SCHEME_ORDER = ["fl", "sl", "sfl", "pipar"]
SCHEME_NAMES = {"fl": "FL", "sl": "SL", "sfl": "SFL", "pipar": "PiPar"}
SCHEME_COLOURS = {"fl": "tab:blue", "sl": "tab:orange", "sfl": "tab:green", "pipar": "tab:red"}

# Options that name output files or only change logging. They differ between
# points without changing what is measured, so they never split a figure.
BOOKKEEPING_OPTIONS = {"output", "trace", "log_level", "data_dir"}

# (label, summary column, colour). The links take the colours of uploads and
# downloads in the timeline.
IDLE_CLASSES = [("server compute", "server_idle_median_s", "0.35"),
                ("client compute (mean)", "client_idle_median_s", "tab:olive"),
                ("uplink (mean)", "uplink_idle_median_s", "tab:purple"),
                ("downlink (mean)", "downlink_idle_median_s", "tab:brown")]

# Summary columns that almost every figure uses. A point without them is ignored.
ROUND_TIME_COLUMNS = ["round_time_median_s", "round_time_min_s", "round_time_max_s"]

# A timeline panel gets one row per resource, 1 + 3K rows in all. Beyond this
# many clients the rows become too thin to read, so later clients are left out.
TIMELINE_MAX_CLIENTS = 8
# Panels per figure row before a figure wraps to a new row of panels.
MAX_COLUMNS = 3


class Skip(Exception):
    """Raised by a figure function when the file's points cannot support the figure."""


class InvalidResults(Exception):
    """Raised when the results file is missing or is not a `pipar sweep` file."""


class InvalidPoint(Exception):
    """Raised when a point group lacks data that every figure needs."""


# ---------------------------------------------------------------------------
# Loading

def as_text(value):
    """Return an HDF5 string attribute as str, whether h5py read it as str or bytes."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8")
    return str(value)


def read_repetition(group):
    """Read the per-round tables of one repetition into a dict of numpy arrays."""
    rounds = group["rounds"]
    repetition = {"name": group.name.rsplit("/", 1)[-1]}
    for name in ["round", "wall_time_s", "eval_time_s", "test_accuracy"]:
        repetition[name] = rounds[name][()][:, 0]
    if "warmup" in rounds:
        repetition["warmup"] = rounds["warmup"][()][:, 0] != 0
    else:
        repetition["warmup"] = np.zeros(len(repetition["round"]), dtype=bool)
    return repetition


def read_point(group):
    """Read one completed point into a record, or raise InvalidPoint naming what is missing.

    h5py raises KeyError for a missing table inside a repetition.
    """
    for required in ["options", "summary", "repetitions"]:
        if required not in group:
            raise InvalidPoint(f"it has no {required}")
    summary = group["summary"]
    names = [name.strip() for name in as_text(summary.attrs["columns"]).split(",")]
    values = summary[()]
    if len(names) != len(values):
        raise InvalidPoint(f"its summary has {len(values)} values for {len(names)} column names")
    for required in ROUND_TIME_COLUMNS:
        if required not in names:
            raise InvalidPoint(f"its summary has no column {required}")
    repetitions = [read_repetition(group["repetitions"][name])
                   for name in sorted(group["repetitions"])]
    if not repetitions:
        raise InvalidPoint("it has no repetition")
    return {
        "name": group.name.rsplit("/", 1)[-1],
        "group": group.name,
        "index": int(group.attrs.get("index", -1)),
        "key": as_text(group.attrs.get("key", "")),
        "clients": int(group.attrs["clients"]),
        "warmup_rounds": int(group.attrs.get("warmup_rounds", 0)),
        "options": {name: as_text(value) for name, value in group["options"].attrs.items()},
        "summary": dict(zip(names, (float(value) for value in values))),
        "repetitions": repetitions,
    }


def load_results(path):
    """Read a sweep results file into (sweep attributes, list of point records).

    Events are not loaded here, because a large sweep contains far more of them
    than the figures use. read_events() reads them for one repetition.
    """
    if not os.path.isfile(path):
        raise InvalidResults(f"results file not found: {path}")
    try:
        results = h5py.File(path, "r")
    except OSError as error:
        hint = ""
        if "lock" in str(error):
            hint = ("; if `pipar sweep` is still writing it, wait for it to finish or set "
                    "HDF5_USE_FILE_LOCKING=FALSE to read it as it is")
        raise InvalidResults(f"failed to open {path} as HDF5: {error}{hint}") from error
    with results:
        sweep = {name: value if isinstance(value, (int, np.integer)) else as_text(value)
                 for name, value in results.attrs.items()
                 if np.ndim(value) == 0}
        program = sweep.get("program", "")
        if program != "pipar sweep":
            raise InvalidResults(
                f"{path} was written by {program!r}, expected 'pipar sweep'; "
                "pass the results file of a `pipar sweep` run")
        points = []
        # `pipar sweep` creates /points with the first completed point.
        for name in sorted(results.get("points", {})):
            try:
                points.append(read_point(results["points"][name]))
            except (InvalidPoint, KeyError) as error:
                print(f"warning: ignoring point {name}: {error.args[0]}", file=sys.stderr)
    sweep["path"] = path
    return sweep, points


def read_events(sweep, point, repetition):
    """Return the events table (E, 8) of one repetition and its origin_s.

    A repetition without an events table gets an empty one.
    """
    with h5py.File(sweep["path"], "r") as results:
        name = f"{point['group']}/repetitions/{repetition['name']}/events"
        if name not in results:
            return np.empty((0, 8)), 0.0
        dataset = results[name]
        return dataset[()], float(dataset.attrs.get("origin_s", 0.0))


# ---------------------------------------------------------------------------
# Grouping points

def scheme_of(point):
    return point["options"].get("scheme", "")


def summary_value(point, name):
    return point["summary"].get(name, math.nan)


def varying_options(points):
    """Return the sorted names of the options whose value differs between points."""
    names = set()
    for point in points:
        names.update(point["options"])
    names -= BOOKKEEPING_OPTIONS
    return sorted(name for name in names
                  if len({point["options"].get(name) for point in points}) > 1)


def group_by_context(points, varying, excluded):
    """Split points by their values of the varying options not in `excluded`.

    Returns a list of (context, points) in the order the contexts first
    appear, where a context is a tuple of (option, value) pairs.
    """
    groups = {}
    for point in points:
        context = tuple((name, point["options"].get(name, ""))
                        for name in varying if name not in excluded)
        groups.setdefault(context, []).append(point)
    return list(groups.items())


def describe_option(name, value):
    """Return a short human-readable form of one option value, with its unit."""
    if name in ("uplink_mbps", "downlink_mbps"):
        direction = name.split("_")[0]
        return f"{direction} {value} Mbit/s" if value else f"{direction} unlimited"
    if name == "latency_ms":
        return f"latency {value or 0} ms"
    if name == "client_slowdown":
        return f"slowdown {value or 1}x"
    if name == "bandwidth_trace":
        return f"trace {os.path.basename(value)}" if value else "no trace"
    if name == "cut":
        return f"cut {value}"
    if name == "micro_batches":
        return f"N={value}"
    if name == "clients":
        return f"{value} clients"
    if name == "scheme":
        return SCHEME_NAMES.get(value, value)
    if name in ("model", "dataset"):
        return value
    return f"{name}={value}"


def describe_context(context):
    return ", ".join(describe_option(name, value) for name, value in context)


def sorted_schemes(schemes):
    known = [scheme for scheme in SCHEME_ORDER if scheme in schemes]
    return known + sorted(set(schemes) - set(SCHEME_ORDER))


def fastest_per_scheme(points):
    """Return {scheme: point} with each scheme's lowest median round time, in scheme order.

    Figures that compare schemes show one point per scheme. When a scheme was
    run at several cut points or micro-batch counts, they show its fastest one
    and label it with its cut and N.
    """
    chosen = {}
    for point in points:
        scheme = scheme_of(point)
        best = chosen.get(scheme)
        if best is None or (summary_value(point, "round_time_median_s")
                            < summary_value(best, "round_time_median_s")):
            chosen[scheme] = point
    return {scheme: chosen[scheme] for scheme in sorted_schemes(chosen)}


def scheme_label(point, all_points):
    """Return the scheme name with the cut and N of the point when the sweep varies them.

    Cut and N are shown only for the schemes they apply to: FL trains the
    whole model, and only PiPar splits a batch into micro-batches.
    """
    scheme = scheme_of(point)
    same_scheme = [other for other in all_points if scheme_of(other) == scheme]
    details = []
    if scheme != "fl" and len({other["options"].get("cut") for other in same_scheme}) > 1:
        details.append(f"cut {point['options'].get('cut')}")
    if scheme == "pipar" and len({other["options"].get("micro_batches")
                                  for other in same_scheme}) > 1:
        details.append(f"N={point['options'].get('micro_batches')}")
    name = SCHEME_NAMES.get(scheme, scheme)
    return f"{name} ({', '.join(details)})" if details else name


def format_seconds(value):
    """Format a time in seconds with about three significant digits and its unit."""
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 10:
        return f"{value:.1f} s"
    return f"{value:.2f} s"


def numeric(value):
    try:
        return float(value)
    except ValueError:
        return math.nan


# ---------------------------------------------------------------------------
# Figure helpers

def make_panels(count, panel_width, panel_height, max_columns=MAX_COLUMNS, legend_row=False):
    """Create a figure with `count` panels in rows of at most `max_columns`.

    Returns (figure, panels, legend_axes). With `legend_row`, a blank axes
    spans the top of the figure for a shared legend: matplotlib 3.6's
    constrained layout leaves no room for a figure legend, but it does for
    the legend of an axes.
    """
    columns = min(count, max_columns)
    rows = math.ceil(count / columns)
    extra_height = 0.5 if legend_row else 0.0
    figure = plt.figure(figsize=(panel_width * columns, panel_height * rows + extra_height),
                        layout="constrained")
    ratios = ([0.01] if legend_row else []) + [1.0] * rows
    grid = figure.add_gridspec(len(ratios), columns, height_ratios=ratios)
    first_row = 1 if legend_row else 0
    panels = [figure.add_subplot(grid[first_row + index // columns, index % columns])
              for index in range(count)]
    legend_axes = None
    if legend_row:
        legend_axes = figure.add_subplot(grid[0, :])
        legend_axes.axis("off")
    return figure, panels, legend_axes


def save_figure(figure, out_dir, name):
    path = os.path.join(out_dir, f"{name}.png")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path}")
    return path


def keep_bars_narrow(axes, first, last):
    """Widen the x range to at least 3 bar slots, so one or two bars stay bar-shaped."""
    if last - first < 2:
        middle = (first + last) / 2
        axes.set_xlim(middle - 1.5, middle + 1.5)


def repetition_count(points):
    counts = sorted({len(point["repetitions"]) for point in points})
    if len(counts) == 1:
        return f"{counts[0]} repetition{'s' if counts[0] != 1 else ''}"
    return f"{counts[0]} to {counts[-1]} repetitions"


def first_measured_round(repetition):
    """Return the index of the first measured round, or of the last round if all are warm-up."""
    measured = repetition["round"][~repetition["warmup"]]
    return int(measured[0]) if len(measured) else int(repetition["round"][-1])


def round_starts(events, origin_s, repetition):
    """Return each round's start time in seconds since training started.

    A round starts when the server starts sending the starting model, which is
    the earliest event of the round other than evaluation and data loading.
    Without events, rounds are assumed to follow each other with no gap.
    """
    training = events[(events[:, KIND] != EVALUATE) & (events[:, KIND] != LOAD_DATA)]
    starts = []
    fallback = np.concatenate([[0.0], np.cumsum(repetition["wall_time_s"]
                                                + repetition["eval_time_s"])])
    for position, round_index in enumerate(repetition["round"]):
        in_round = training[training[:, ROUND] == round_index]
        if len(in_round):
            starts.append(in_round[:, START].min() - origin_s)
        else:
            starts.append(fallback[position])
    return np.array(starts)


# ---------------------------------------------------------------------------
# Figure 1: iteration timeline

def timeline_row(event, clients):
    """Return the timeline row of an event: 0 server, then client, uplink and downlink rows."""
    resource = int(event[RESOURCE])
    client = int(event[CLIENT])
    if resource == SERVER_COMPUTE:
        return 0
    return 1 + (resource - 1) * clients + (client - 1)


def draw_timeline(axes, sweep, point, title):
    """Draw the first measured round of repetition 0 of `point` on `axes`.

    Returns the time in seconds after the round start at which the last bar ends.
    """
    repetition = point["repetitions"][0]
    events, _origin_s = read_events(sweep, point, repetition)
    round_index = first_measured_round(repetition)
    position = int(np.flatnonzero(repetition["round"] == round_index)[0])
    events = events[(events[:, ROUND] == round_index)
                    & (events[:, KIND] != EVALUATE) & (events[:, KIND] != LOAD_DATA)]
    wall_time = repetition["wall_time_s"][position]
    if not len(events):
        axes.text(0.5, 0.5, f"point {point['name']} has no events in round {round_index}",
                  transform=axes.transAxes, ha="center", va="center")
        axes.set_yticks([])
        axes.set_title(title, fontsize=10)
        return wall_time
    round_start = events[:, START].min()

    clients = point["clients"]
    drawn = min(clients, TIMELINE_MAX_CLIENTS)
    labels = (["server compute"] + [f"client {c} compute" for c in range(1, drawn + 1)]
              + [f"uplink {c}" for c in range(1, drawn + 1)]
              + [f"downlink {c}" for c in range(1, drawn + 1)])
    for kind in np.unique(events[:, KIND]).astype(int):
        of_kind = events[(events[:, KIND] == kind)
                         & ((events[:, CLIENT] <= drawn) | (events[:, RESOURCE] == SERVER_COMPUTE))]
        rows = {}
        for event in of_kind:
            row = timeline_row(event, clients)
            # Rows of hidden clients shift down by the clients left out.
            if event[RESOURCE] != SERVER_COMPUTE:
                row -= (int(event[RESOURCE]) - 1) * (clients - drawn)
            rows.setdefault(row, []).append((event[START] - round_start,
                                             event[END] - event[START]))
        for row, spans in rows.items():
            axes.broken_barh(spans, (row - 0.4, 0.8), facecolors=KIND_COLOURS[kind],
                             edgecolor="none")

    axes.axvline(wall_time, color="black", linestyle="--", linewidth=1)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    for boundary in [0.5, drawn + 0.5, 2 * drawn + 0.5]:
        axes.axhline(boundary, color="0.8", linewidth=0.8)
    hidden = f", clients 1-{drawn} of {clients} drawn" if drawn < clients else ""
    axes.set_title(f"{title} | round {round_index}: {format_seconds(wall_time)}{hidden}",
                   fontsize=10)
    return max(wall_time, float((events[:, END] - round_start).max()))


def plot_timeline(sweep, points, out_dir):
    varying = varying_options(points)
    contexts = group_by_context(points, varying, {"scheme", "cut", "micro_batches"})
    if len(contexts) > 4:
        print(f"note: timeline.png shows the first 4 of {len(contexts)} parameter combinations")
        contexts = contexts[:4]

    columns = [(context, fastest_per_scheme(group)) for context, group in contexts]
    rows = max(len(chosen) for _context, chosen in columns)
    clients = min(max(point["clients"] for point in points), TIMELINE_MAX_CLIENTS)
    panel_height = 0.9 + 0.17 * (1 + 3 * clients)
    figure, panels, legend_axes = make_panels(rows * len(columns), 7.5, panel_height,
                                              max_columns=len(columns), legend_row=True)

    for column, (context, chosen) in enumerate(columns):
        column_panels = [panels[row * len(columns) + column] for row in range(rows)]
        for unused in column_panels[len(chosen):]:
            unused.set_visible(False)
        column_panels = column_panels[:len(chosen)]
        latest_end = 0.0
        for panel, point in zip(column_panels, chosen.values()):
            title = scheme_label(point, points)
            if context:
                title += f" | {describe_context(context)}"
            latest_end = max(latest_end, draw_timeline(panel, sweep, point, title))
        # Panels of one column share the time axis, so that the schemes'
        # round lengths compare at a glance.
        for panel in column_panels:
            panel.set_xlim(0, latest_end * 1.02)
        column_panels[-1].set_xlabel("time since round start (s)")

    # Every kind but evaluate and load data, which the timeline leaves out.
    handles = [Patch(color=KIND_COLOURS[kind], label=KIND_NAMES[kind]) for kind in range(EVALUATE)]
    handles.append(Line2D([], [], color="black", linestyle="--", label="round end"))
    # A single column is too narrow for the legend on one line.
    legend_columns = len(handles) if len(columns) > 1 else math.ceil(len(handles) / 2)
    legend_axes.legend(handles=handles, loc="center", ncols=legend_columns, fontsize=9)
    figure.suptitle("Iteration timeline: first measured round of repetition 0 "
                    "(fastest configuration per scheme)", fontsize=11)
    return [save_figure(figure, out_dir, "timeline")]


# ---------------------------------------------------------------------------
# Figure 2: round time per scheme

def plot_round_time_by_scheme(sweep, points, out_dir):
    varying = varying_options(points)
    contexts = group_by_context(points, varying, {"scheme", "cut", "micro_batches"})
    bars = sum(len(fastest_per_scheme(group)) for _context, group in contexts)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.3 * bars + 1.5), 5.0), layout="constrained")

    position = 0.0
    ticks, tick_labels, group_centres = [], [], []
    any_speedup = False
    for context, group in contexts:
        chosen = fastest_per_scheme(group)
        fl_time = summary_value(chosen["fl"], "round_time_median_s") if "fl" in chosen else None
        first = position
        for scheme, point in chosen.items():
            median = summary_value(point, "round_time_median_s")
            low = median - summary_value(point, "round_time_min_s")
            high = summary_value(point, "round_time_max_s") - median
            axes.bar(position, median, width=0.8, color=SCHEME_COLOURS.get(scheme, "tab:gray"),
                     yerr=[[low], [high]], capsize=4)
            if fl_time is not None and scheme != "fl":
                any_speedup = True
                axes.annotate(f"{fl_time / median:.2f}x", (position, median + high),
                              xytext=(0, 3), textcoords="offset points", ha="center",
                              va="bottom", fontsize=9, fontweight="bold")
            ticks.append(position)
            tick_labels.append(scheme_label(point, points).replace(" (", "\n("))
            position += 1.0
        group_centres.append(((first + position - 1.0) / 2, describe_context(context)))
        position += 0.8

    axes.set_xticks(ticks, tick_labels, fontsize=9)
    keep_bars_narrow(axes, ticks[0], ticks[-1])
    axes.set_ylabel("round time (s)")
    axes.margins(y=0.12)
    if len(contexts) > 1:
        # Group names go below the bar labels, which take up to two lines.
        for centre, label in group_centres:
            axes.annotate(label, (centre, 0), xycoords=("data", "axes fraction"),
                          xytext=(0, -38), textcoords="offset points", ha="center", va="top",
                          fontsize=9, fontstyle="italic")

    title = f"Round time, median of {repetition_count(points)} (error bars: min to max)"
    if any_speedup:
        title += "\nlabels above bars: speedup over FL with the same other parameters"
    axes.set_title(title, fontsize=10)
    return [save_figure(figure, out_dir, "round_time_by_scheme")]


# ---------------------------------------------------------------------------
# Figure 3: idle time per resource class

def plot_idle_time(sweep, points, out_dir):
    missing = [name for _label, name, _colour in IDLE_CLASSES
               if all(math.isnan(summary_value(point, name)) for point in points)]
    if missing:
        raise Skip(f"the summaries have no {', '.join(missing)}")
    varying = varying_options(points)
    contexts = group_by_context(points, varying, {"scheme", "cut", "micro_batches"})
    widest = max(len(fastest_per_scheme(group)) for _context, group in contexts)
    # The legend row needs about 8.5 inches, whatever the number of panels.
    columns = min(len(contexts), MAX_COLUMNS)
    panel_width = max(8.5 / columns, 1.5 * widest + 1.0)
    figure, panels, legend_axes = make_panels(len(contexts), panel_width, 4.2, legend_row=True)
    width = 0.8 / len(IDLE_CLASSES)
    for panel, (context, group) in zip(panels, contexts):
        chosen = fastest_per_scheme(group)
        for slot, (label, name, colour) in enumerate(IDLE_CLASSES):
            offsets = np.arange(len(chosen)) + (slot - (len(IDLE_CLASSES) - 1) / 2) * width
            values = [summary_value(point, name) for point in chosen.values()]
            panel.bar(offsets, values, width=width, label=label, color=colour)
        # A black line over each group marks the round time: a resource idle
        # for that long did no work at all.
        for position, point in enumerate(chosen.values()):
            round_time = summary_value(point, "round_time_median_s")
            panel.hlines(round_time, position - 0.45, position + 0.45, color="black", linewidth=1.5)
        panel.set_xticks(range(len(chosen)),
                         [scheme_label(point, points).replace(" (", "\n(")
                          for point in chosen.values()], fontsize=9)
        keep_bars_narrow(panel, 0, len(chosen) - 1)
        panel.set_ylabel("idle time per round (s)")
        panel.sharey(panels[0])
        if context:
            panel.set_title(describe_context(context), fontsize=10)
    handles, labels = panels[0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", linewidth=1.5))
    labels.append("round time")
    legend_axes.legend(handles, labels, loc="center", ncols=len(labels), fontsize=9)
    figure.suptitle(f"Idle time per resource, median of {repetition_count(points)}; "
                    "client and link values are means over clients", fontsize=10)
    return [save_figure(figure, out_dir, "idle_time")]


# ---------------------------------------------------------------------------
# Figure 4: test accuracy per round

def plot_accuracy(sweep, points, out_dir):
    varying = varying_options(points)
    contexts = group_by_context(points, varying, {"scheme", "cut", "micro_batches"})
    figure, panels, _legend_axes = make_panels(len(contexts), 5.5, 4.0)
    for panel, (context, group) in zip(panels, contexts):
        for scheme, point in fastest_per_scheme(group).items():
            repetition = point["repetitions"][0]
            colour = SCHEME_COLOURS.get(scheme, "tab:gray")
            accuracy = 100.0 * repetition["test_accuracy"]
            warmup = repetition["warmup"]
            panel.plot(repetition["round"], accuracy, color=colour,
                       label=scheme_label(point, points))
            panel.plot(repetition["round"][~warmup], accuracy[~warmup], "o", color=colour)
            panel.plot(repetition["round"][warmup], accuracy[warmup], "o", color=colour,
                       markerfacecolor="white")
        panel.set_xlabel("round (warm-up rounds first)")
        panel.set_ylabel("test accuracy (%)")
        panel.xaxis.get_major_locator().set_params(integer=True)
        panel.grid(alpha=0.3)
        if context:
            panel.set_title(describe_context(context), fontsize=10)
        handles, labels = panel.get_legend_handles_labels()
        handles += [Line2D([], [], marker="o", color="0.4", linestyle="none"),
                    Line2D([], [], marker="o", color="0.4", markerfacecolor="white",
                           linestyle="none")]
        labels += ["measured round", "warm-up round"]
        panel.legend(handles, labels, fontsize=8, loc="best")
        panel.sharey(panels[0])
    figure.suptitle("Test accuracy after each round, repetition 0", fontsize=11)
    return [save_figure(figure, out_dir, "accuracy")]


# ---------------------------------------------------------------------------
# Figures 5 and 6: PiPar over cut point and micro-batch count

def pipar_contexts(points, needed_axes):
    """Group the PiPar points by everything but cut and N.

    Returns the groups that have at least 2 distinct values on every axis in
    `needed_axes`, or raises Skip saying why there are none.
    """
    pipar = [point for point in points if scheme_of(point) == "pipar"]
    if not pipar:
        raise Skip("the sweep has no pipar point")
    varying = varying_options(pipar)
    groups = []
    for context, group in group_by_context(pipar, varying, {"cut", "micro_batches"}):
        if all(len(axis_values(group, axis)) >= 2 for axis in needed_axes):
            groups.append((context, group))
    if not groups:
        minimums = {"cut": "2 cut points", "micro_batches": "2 micro-batch counts"}
        requirement = " and ".join(minimums[axis] for axis in needed_axes)
        raise Skip(f"no set of pipar points with otherwise equal parameters has {requirement}")
    return groups


def axis_values(group, name):
    return sorted({point["options"].get(name) for point in group}, key=numeric)


def plot_round_time_grid(sweep, points, out_dir):
    groups = pipar_contexts(points, ["cut", "micro_batches"])
    widest = max(len(axis_values(group, "micro_batches")) for _context, group in groups)
    tallest = max(len(axis_values(group, "cut")) for _context, group in groups)
    figure, panels, _legend_axes = make_panels(len(groups), 1.0 * widest + 2.5, 0.7 * tallest + 1.8,
                                 max_columns=2)
    colour_map = plt.get_cmap("viridis_r").copy()
    colour_map.set_bad("0.92")
    for panel, (context, group) in zip(panels, groups):
        cuts = axis_values(group, "cut")
        counts = axis_values(group, "micro_batches")
        grid = np.full((len(cuts), len(counts)), np.nan)
        for point in group:
            row = cuts.index(point["options"]["cut"])
            column = counts.index(point["options"]["micro_batches"])
            grid[row, column] = summary_value(point, "round_time_median_s")
        image = panel.imshow(grid, cmap=colour_map, aspect="auto", origin="lower")
        best = np.unravel_index(np.nanargmin(grid), grid.shape)
        threshold = np.nanmin(grid) + 0.5 * (np.nanmax(grid) - np.nanmin(grid))
        for (row, column), value in np.ndenumerate(grid):
            if math.isnan(value):
                panel.text(column, row, "not run", ha="center", va="center", fontsize=8,
                           color="0.4")
                continue
            # viridis_r is dark for high values, so those get white text.
            colour = "white" if value > threshold else "black"
            weight = "bold" if (row, column) == best else "normal"
            panel.text(column, row, format_seconds(value), ha="center", va="center", fontsize=9,
                       color=colour, fontweight=weight)
        panel.add_patch(Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False,
                                  edgecolor="red", linewidth=2.5))
        panel.set_xticks(range(len(counts)), counts)
        panel.set_yticks(range(len(cuts)), cuts)
        panel.set_xlabel("micro-batches per batch, N")
        panel.set_ylabel("cut point (client runs blocks 1..cut)")
        title = f"best: cut {cuts[best[0]]}, N={counts[best[1]]} (red box)"
        if context:
            title = f"{describe_context(context)}\n{title}"
        panel.set_title(title, fontsize=10)
        figure.colorbar(image, ax=panel, label="round time, median (s)")
    figure.suptitle(f"PiPar round time, median of {repetition_count(points)}", fontsize=11)
    return [save_figure(figure, out_dir, "round_time_grid")]


def plot_pipar_line(points, out_dir, x_axis, series_axis, name):
    """Draw PiPar round time over `x_axis` with one line per value of `series_axis`."""
    groups = pipar_contexts(points, [x_axis])
    figure, panels, _legend_axes = make_panels(len(groups), 5.5, 4.0, max_columns=2)
    for panel, (context, group) in zip(panels, groups):
        for slot, series_value in enumerate(axis_values(group, series_axis)):
            series = sorted((point for point in group
                             if point["options"].get(series_axis) == series_value),
                            key=lambda point: numeric(point["options"].get(x_axis)))
            x = [numeric(point["options"].get(x_axis)) for point in series]
            median = np.array([summary_value(point, "round_time_median_s") for point in series])
            low = median - [summary_value(point, "round_time_min_s") for point in series]
            high = np.array([summary_value(point, "round_time_max_s") for point in series]) - median
            panel.errorbar(x, median, yerr=[low, high], marker="o", capsize=3, color=f"C{slot}",
                           label=describe_option(series_axis, series_value))
        values = [numeric(value) for value in axis_values(group, x_axis)]
        if x_axis == "micro_batches" and min(values) > 0 and max(values) / min(values) >= 8:
            # N usually grows in powers of two, which a log axis spaces evenly.
            panel.set_xscale("log", base=2)
            panel.minorticks_off()
        panel.set_xticks(values, [f"{value:g}" for value in values])
        panel.set_xlabel("micro-batches per batch, N" if x_axis == "micro_batches"
                         else "cut point (client runs blocks 1..cut)")
        panel.set_ylabel("round time, median (s)")
        panel.grid(alpha=0.3)
        panel.legend(fontsize=8)
        if context:
            panel.set_title(describe_context(context), fontsize=10)
    axis_name = "micro-batch count N" if x_axis == "micro_batches" else "cut point"
    figure.suptitle(f"PiPar round time over the {axis_name}\nmedian of {repetition_count(points)}, "
                    "error bars from min to max", fontsize=10)
    return [save_figure(figure, out_dir, name)]


def plot_round_time_vs_n(sweep, points, out_dir):
    return plot_pipar_line(points, out_dir, "micro_batches", "cut", "round_time_vs_n")


def plot_round_time_vs_cut(sweep, points, out_dir):
    return plot_pipar_line(points, out_dir, "cut", "micro_batches", "round_time_vs_cut")


# ---------------------------------------------------------------------------
# Figure 7: bandwidth trace

def resolve_trace_path(sweep, trace):
    """Find a trace file given as stored in the options.

    A relative path was relative to the directory `pipar sweep` ran in, which
    the file does not record, so this tries the current directory, the results
    file's directory and the sweep file's directory in turn.
    """
    candidates = [trace]
    if not os.path.isabs(trace):
        for base in [sweep["path"], sweep.get("sweep_file", "")]:
            if base:
                candidates.append(os.path.join(os.path.dirname(os.path.abspath(base)), trace))
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    return None


def read_trace(path):
    """Read a bandwidth trace CSV into a list of (time_s, client, uplink_mbps, downlink_mbps).

    Follows the rules of `pipar train --bandwidth-trace`: a header line, then
    one row per change, with '#' comment lines and blank lines ignored.
    Raises ValueError naming the line of a malformed row.
    """
    rows = []
    header_seen = False
    with open(path, encoding="utf-8") as trace:
        for number, line in enumerate(trace, start=1):
            content = line.strip()
            if not content or content.startswith("#"):
                continue
            fields = [field.strip() for field in content.split(",")]
            if not header_seen:
                if fields != ["time_s", "client", "uplink_mbps", "downlink_mbps"]:
                    raise ValueError(f"{path}:{number}: invalid header {content!r}")
                header_seen = True
                continue
            if len(fields) != 4:
                raise ValueError(f"{path}:{number}: expected 4 fields, got {len(fields)}")
            try:
                rows.append((float(fields[0]), int(fields[1]), float(fields[2]), float(fields[3])))
            except ValueError as error:
                raise ValueError(f"{path}:{number}: {error}") from error
    return rows


def per_client_value(text, client):
    """Return one client's value of a per-client option ("" when unset)."""
    values = [value.strip() for value in text.split(",")] if text else []
    if not values:
        return ""
    return values[0] if len(values) == 1 else values[client - 1]


def client_schedules(rows, options, clients, column):
    """Return {client: [(time_s, mbps), ...]} for one direction, sorted by time.

    A schedule starts with the rate of --uplink-mbps or --downlink-mbps at
    time 0 (None when that link is unlimited). A later row for the same time
    and client replaces an earlier one, as in pipar.
    """
    option = "uplink_mbps" if column == 2 else "downlink_mbps"
    schedules = {}
    for client in range(1, clients + 1):
        initial = per_client_value(options.get(option, ""), client)
        points = {0.0: float(initial) if initial else None}
        for row in rows:
            if row[1] in (0, client):
                points[row[0]] = row[column]
        schedules[client] = sorted(points.items())
    return schedules


def draw_trace(panel, rows, point, end_s):
    """Draw the uplink (solid) and downlink (dashed) rate of each client as steps."""
    clients = point["clients"]
    for column, style, direction in [(2, "-", "uplink"), (3, "--", "downlink")]:
        schedules = client_schedules(rows, point["options"], clients, column)
        # Clients with the same schedule share one line.
        by_schedule = {}
        for client, schedule in schedules.items():
            by_schedule.setdefault(tuple(schedule), []).append(client)
        for slot, (schedule, members) in enumerate(by_schedule.items()):
            times = [time for time, _rate in schedule] + [end_s]
            rates = [math.nan if rate is None else rate for _time, rate in schedule]
            rates.append(rates[-1])
            if len(members) == clients:
                client_text = "all clients"
            else:
                client_text = ("client" + ("s " if len(members) > 1 else " ")
                               + ",".join(map(str, members)))
            # Dark2 keeps these apart from the scheme colours of the panel below.
            panel.step(times, rates, where="post", linestyle=style,
                       color=plt.get_cmap("Dark2")(slot % 8),
                       label=f"{direction}, {client_text}")
    panel.set_ylabel("bandwidth (Mbit/s)")
    panel.set_ylim(bottom=0)
    panel.grid(alpha=0.3)
    panel.legend(fontsize=8, loc="best")


def plot_bandwidth_trace(sweep, points, out_dir):
    traced = [point for point in points if point["options"].get("bandwidth_trace")]
    if not traced:
        raise Skip("no point uses a bandwidth_trace")
    varying = varying_options(points)
    contexts = group_by_context(traced, varying, {"scheme", "cut", "micro_batches"})
    columns = []
    for context, group in contexts:
        trace = group[0]["options"]["bandwidth_trace"]
        path = resolve_trace_path(sweep, trace)
        if path is None:
            print(f"note: bandwidth_trace.png leaves out {trace}: file not found "
                  "(relative to the current, results and sweep file directories)")
            continue
        # NOTE: the results file stores only the trace's path, so a trace
        # edited after the sweep ran is drawn as it is now.
        try:
            columns.append((context, group, read_trace(path)))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            print(f"note: bandwidth_trace.png leaves out {trace}: {error}")
    if not columns:
        raise Skip("none of the bandwidth trace files named in the options could be read")

    figure, axes = plt.subplots(2, len(columns), squeeze=False, layout="constrained",
                                figsize=(7.0 * len(columns), 7.0), height_ratios=[2, 3])
    for column, (context, group, rows) in enumerate(columns):
        trace_panel, round_panel = axes[0][column], axes[1][column]
        round_panel.sharex(trace_panel)
        end_s = max((row[0] for row in rows), default=0.0)
        for scheme, point in fastest_per_scheme(group).items():
            repetition = point["repetitions"][0]
            events, origin_s = read_events(sweep, point, repetition)
            starts = round_starts(events, origin_s, repetition)
            wall = repetition["wall_time_s"]
            end_s = max(end_s, float((starts + wall).max()))
            colour = SCHEME_COLOURS.get(scheme, "tab:gray")
            warmup = repetition["warmup"]
            middles = starts + wall / 2
            # The horizontal error bar spans the round, so the bar lines up
            # with the bandwidth in effect during that round.
            round_panel.errorbar(middles[~warmup], wall[~warmup], xerr=wall[~warmup] / 2,
                                 fmt="o", color=colour, capsize=2,
                                 label=scheme_label(point, points))
            round_panel.errorbar(middles[warmup], wall[warmup], xerr=wall[warmup] / 2,
                                 fmt="o", color=colour, markerfacecolor="white", capsize=2)
        draw_trace(trace_panel, rows, group[0], end_s * 1.02)
        title = f"trace {os.path.basename(group[0]['options']['bandwidth_trace'])}"
        others = [(name, value) for name, value in context if name != "bandwidth_trace"]
        if others:
            title += f" | {describe_context(others)}"
        trace_panel.set_title(title, fontsize=10)
        round_panel.set_xlabel("time since training started (s), repetition 0")
        round_panel.set_ylabel("round time (s)")
        round_panel.set_ylim(bottom=0)
        round_panel.grid(alpha=0.3)
        handles, labels = round_panel.get_legend_handles_labels()
        handles.append(Line2D([], [], marker="o", color="0.4", markerfacecolor="white",
                              linestyle="none"))
        labels.append("warm-up round")
        round_panel.legend(handles, labels, fontsize=8, loc="best")
    figure.suptitle("Bandwidth trace and the round times under it "
                    "(horizontal bars span each round)", fontsize=11)
    return [save_figure(figure, out_dir, "bandwidth_trace")]


# ---------------------------------------------------------------------------

FIGURES = {
    "timeline": plot_timeline,
    "round_time_by_scheme": plot_round_time_by_scheme,
    "idle_time": plot_idle_time,
    "accuracy": plot_accuracy,
    "round_time_grid": plot_round_time_grid,
    "round_time_vs_n": plot_round_time_vs_n,
    "round_time_vs_cut": plot_round_time_vs_cut,
    "bandwidth_trace": plot_bandwidth_trace,
}


def parse_only(text):
    """Return the figure names listed in --only, accepting names with or without .png."""
    names = [name.strip().removesuffix(".png") for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FIGURES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown figure {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    return names


def default_out_dir(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(os.path.dirname(path), f"{stem}-figures")


def main():
    parser = argparse.ArgumentParser(
        description="Render the figures a `pipar sweep` results file supports as PNG files.")
    parser.add_argument("results", help="results file written by `pipar sweep`")
    parser.add_argument("--out-dir",
                        help="folder for the PNG files (default: RESULTS minus .h5, plus -figures)")
    parser.add_argument("--only", type=parse_only, metavar="NAME,...",
                        help=f"render only these figures: {', '.join(FIGURES)}")
    arguments = parser.parse_args()

    try:
        sweep, points = load_results(arguments.results)
    except InvalidResults as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    total = sweep.get("points_total", "?")
    print(f"{arguments.results}: sweep {sweep.get('sweep_name', '?')!r}, status "
          f"{sweep.get('status', '?')}, {len(points)} of {total} points read")

    out_dir = arguments.out_dir or default_out_dir(arguments.results)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as error:
        print(f"error: cannot create the output folder {out_dir}: {error}", file=sys.stderr)
        return 2
    for name in arguments.only or FIGURES:
        if not points:
            print(f"skipped {name}.png: the file has no completed point")
            continue
        try:
            FIGURES[name](sweep, points, out_dir)
        except Skip as reason:
            plt.close("all")
            print(f"skipped {name}.png: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
