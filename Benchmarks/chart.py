#!/usr/bin/env python3
"""Draws the main table of BENCHMARKS.md as an SVG bar chart (Python 3 standard library only).

    python3 Benchmarks/chart.py [BENCHMARKS.md] [-o Benchmarks/results.svg]

Benchmarks/run.sh calls it after writing BENCHMARKS.md. It reads the table whose header is
`| metric | direct | socksd | microsocks | Dante | socksd / microsocks | socksd / Dante | socksd / direct |`
and draws one panel per row group (TCP throughput, sessions/s, CPU per 1,000 sessions, set-up times, UDP and
UoT round trips and their CPU, idle memory per session kind, ...; a row no group knows gets a panel of its
own, so a new row is never left out). Each row is a cluster of bars, one per peer that was measured on it,
labelled with its value and, for the others, socksd's ratio to it as the table has it. The caption is the
run's date and machine. The output depends on the table alone, so the same table always gives the same file.
"""

import argparse
import os
import re
import sys
from xml.sax.saxutils import escape, quoteattr

SERVERS = ["direct", "socksd", "microsocks", "Dante"]
COLORS = {"direct": "#8c8c8c", "socksd": "#1f77b4", "microsocks": "#ff7f0e", "Dante": "#2ca02c"}
# The ratio column of each server other than socksd: "socksd / microsocks" and so on.
RATIO_COLUMNS = {"microsocks": "socksd / microsocks", "Dante": "socksd / Dante", "direct": "socksd / direct"}

# (panel title, [(pattern on the row's label, the row's name in the panel: a group of the pattern or text)]).
# A row belongs to the first panel with a pattern that matches it; panels come in the order of their first row.
GROUPS = [
    ("TCP throughput (MiB/s)", [(r"^TCP, (\d+ streams?) \(MiB/s\)", 1)]),
    ("Sessions per second: SOCKS5 CONNECT, 1-byte echo, close", [(r"^connections \(sessions/s, (\d+ clients)\)", 1)]),
    ("Session set-up, 64 clients (ms, connect to first echoed byte)", [(r"^session set-up (p\d+), 64 clients", 1)]),
    ("Proxy CPU per 1,000 sessions (CPU-ms)", [
        (r"^proxy CPU per 1,000 sessions, (\d+ clients)", 1),
        (r"^proxy CPU in the kernel per 1,000 sessions, 4 clients", "4 clients, kernel"),
        (r"^proxy CPU in the kernel per 1,000 sessions, 64 clients", "64 clients, kernel"),
    ]),
    ("UDP round trips (/s, 64 B)", [(r"^(UDP ASSOCIATE|UoT v2) round trips \(/s", 1)]),
    ("Proxy CPU per GiB relayed (CPU-s)", [(r"^proxy CPU per GiB relayed, TCP (\d+ streams?)", 1)]),
    ("Proxy CPU per 100,000 UDP round trips (CPU-s)", [
        (r"^proxy CPU per 100,000 (UDP ASSOCIATE|UoT v2) round trips", 1),
        (r"^proxy CPU in the kernel per 100,000 UDP ASSOCIATE round trips", "UDP ASSOCIATE, kernel"),
    ]),
    ("Proxy CPU at zero load (CPU-ms)", [(r"^proxy CPU at zero load, (.*) \(CPU-ms", 1)]),
    ("Allocations per CONNECT session", [(r"^allocations per CONNECT session", "malloc and kin")]),
    ("System calls per CONNECT session", [
        (r"^system calls per CONNECT session, untraced", "untraced (perf stat)"),
        (r"^system calls per CONNECT session", "strace -c -f"),
    ]),
    ("Memory per idle session (KiB, Pss)", [(r"^memory per idle (CONNECT session|UDP ASSOCIATE|UoT v2 stream)", 1)]),
    ("Idle CONNECT sessions under ulimit -n 1024", [(r"^idle CONNECT sessions under", "sessions")]),
    ("Start to the 'listening on' line (ms)", [(r"^start to `listening on`", "start-up")]),
]
# Panels whose rows do not say "lower is better" in their label but where it is so.
LOWER_IS_BETTER = {"Memory per idle session (KiB, Pss)", "Start to the 'listening on' line (ms)"}

WIDTH = 1200
MARGIN = 20
COLUMN_GAP = 20
COLUMNS = 2
PANEL_WIDTH = (WIDTH - 2 * MARGIN - (COLUMNS - 1) * COLUMN_GAP) // COLUMNS
NAME_WIDTH = 84  # the server's name left of its bar
TEXT_WIDTH = 190  # the value and ratio right of the bar
BAR_AREA = PANEL_WIDTH - 16 - NAME_WIDTH - TEXT_WIDTH
BAR_HEIGHT = 14
BAR_GAP = 4
ROW_LABEL_HEIGHT = 18
ROW_GAP = 8
PANEL_HEADER = 44
PANEL_GAP = 16
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"


class Figure:
    """One cell of the table: a number, a lower bound (`≥2000`), a failure (`n/a`) or nothing measured."""

    def __init__(self, text):
        self.text = text.strip()
        match = re.fullmatch(r"(≥|>=)?\s*(-?[0-9]+(?:\.[0-9]+)?)", self.text)
        self.value = float(match.group(2)) if match else None
        self.lower_bound = bool(match and match.group(1))

    @property
    def measured(self):
        return self.text != ""


def parse(markdown):
    """The main table's rows as (label, {server: Figure}, {server: ratio text}), the date and the machine."""
    lines = markdown.splitlines()
    header_index = None
    for index, line in enumerate(lines):
        if cells(line)[:5] == ["metric"] + SERVERS:
            header_index = index
            break
    if header_index is None:
        raise ValueError("no table with the columns metric | direct | socksd | microsocks | Dante")
    header = cells(lines[header_index])
    rows = []
    for line in lines[header_index + 2:]:
        if not line.startswith("|"):
            break
        values = cells(line)
        values += [""] * (len(header) - len(values))
        by_column = dict(zip(header, values))
        figures = {server: Figure(by_column.get(server, "")) for server in SERVERS}
        ratios = {server: by_column.get(column, "").strip() for server, column in RATIO_COLUMNS.items()}
        rows.append((by_column["metric"], figures, ratios))
    date, machine = "", ""
    for index, line in enumerate(lines):
        match = re.match(r"^Produced by .* on (\d{4}-\d{2}-\d{2}):\s*$", line)
        if match:
            date = match.group(1)
            machine = lines[index + 1].strip() if index + 1 < len(lines) else ""
            break
    return rows, date, machine


def cells(line):
    """The cells of a Markdown table line, trimmed (a `|` inside backquotes is not expected in this table)."""
    line = line.strip()
    if not line.startswith("|"):
        return []
    return [cell.strip() for cell in line.strip("|").split("|")]


def group(rows):
    """Panels as [title, lower_is_better, [(row name, label, figures, ratios)]], in the order of their first row."""
    panels = {}
    order = []
    for label, figures, ratios in rows:
        if not any(figures[server].measured for server in SERVERS):
            continue
        key, title, name = None, None, None
        for group_index, (group_title, patterns) in enumerate(GROUPS):
            for pattern, naming in patterns:
                match = re.search(pattern, label)
                if match:
                    key, title = group_index, group_title
                    name = match.group(naming) if isinstance(naming, int) else naming
                    break
            if key is not None:
                break
        if key is None:  # a row no group knows: a panel of its own, named by its label
            key, title, name = label, re.sub(r";? ?lower is better", "", label).replace(" ()", ""), ""
        if key not in panels:
            panels[key] = [title, False, []]
            order.append(key)
        if "lower is better" in label or title in LOWER_IS_BETTER:
            panels[key][1] = True
        panels[key][2].append((name, label, figures, ratios))
    return [panels[key] for key in order]


def bar_text(server, figure, ratios):
    if figure.value is None:
        return figure.text  # n/a: it failed or does not do this
    text = figure.text.replace(">=", "≥")
    ratio = ratios.get(server, "")
    if server != "socksd" and ratio not in ("", "n/a"):
        text += f"  (socksd {ratio}×)"
    return text


def panel_height(panel):
    _, _, rows = panel
    height = PANEL_HEADER
    for _, _, figures, _ in rows:
        bars = sum(1 for server in SERVERS if figures[server].measured)
        height += ROW_LABEL_HEIGHT + bars * (BAR_HEIGHT + BAR_GAP) + ROW_GAP
    return height


def draw_panel(out, panel, x, y):
    title, lower_is_better, rows = panel
    height = panel_height(panel)
    out.append(f'<g transform="translate({x},{y})">')
    out.append(f'<rect x="0" y="0" width="{PANEL_WIDTH}" height="{height - 6}" rx="6" fill="#f7f7f7" stroke="#dddddd"/>')
    out.append(f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>')
    better = "lower is better" if lower_is_better else "higher is better"
    out.append(f'<text x="10" y="36" font-size="11" fill="#555555">{better}</text>')
    largest = max([f.value for _, _, figures, _ in rows for f in figures.values() if f.value is not None] + [0])
    cursor = PANEL_HEADER
    for name, label, figures, ratios in rows:
        if name:
            out.append(f'<text x="10" y="{cursor + 13}" font-size="12" font-style="italic">{escape(name)}</text>')
        out.append(f"<title>{escape(label)}</title>")
        cursor += ROW_LABEL_HEIGHT
        for server in SERVERS:
            figure = figures[server]
            if not figure.measured:
                continue
            middle = cursor + BAR_HEIGHT / 2 + 4
            out.append(f'<text x="{8 + NAME_WIDTH - 6}" y="{middle:g}" font-size="11" text-anchor="end">{escape(server)}</text>')
            length = 0.0
            if figure.value is not None and largest > 0:
                length = max(1.0, BAR_AREA * figure.value / largest) if figure.value > 0 else 0.0
            if length > 0:
                out.append(
                    f'<rect x="{8 + NAME_WIDTH}" y="{cursor}" width="{length:.1f}" height="{BAR_HEIGHT}" '
                    f'fill="{COLORS[server]}"/>'
                )
            weight = ' font-weight="bold"' if server == "socksd" else ""
            out.append(
                f'<text x="{8 + NAME_WIDTH + length + 5:.1f}" y="{middle:g}" font-size="11"{weight}>'
                f"{escape(bar_text(server, figure, ratios))}</text>"
            )
            cursor += BAR_HEIGHT + BAR_GAP
        cursor += ROW_GAP
    out.append("</g>")


def render(rows, date, machine):
    panels = group(rows)
    # Two columns, filled in order, each panel below the one before it in its column.
    header_height = 74
    column_y = [MARGIN + header_height] * COLUMNS
    placed = []
    for panel in panels:
        column = column_y.index(min(column_y))
        x = MARGIN + column * (PANEL_WIDTH + COLUMN_GAP)
        placed.append((panel, x, column_y[column]))
        column_y[column] += panel_height(panel) + PANEL_GAP
    caption_y = max(column_y) + 4
    height = caption_y + 40
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f"font-family={quoteattr(FONT)}>",
        "<title>socksd benchmarks: socksd beside microsocks, Dante and a direct connection</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 18}" font-size="20" font-weight="bold">socksd beside microsocks, Dante and a direct connection</text>',
        f'<text x="{MARGIN}" y="{MARGIN + 38}" font-size="12" fill="#555555">'
        "Each bar is the median of the run's rounds; (socksd N×) is socksd's figure divided by that bar's, from this one run.</text>",
    ]
    legend_x = MARGIN
    for server in SERVERS:
        out.append(f'<rect x="{legend_x}" y="{MARGIN + 48}" width="12" height="12" fill="{COLORS[server]}"/>')
        out.append(f'<text x="{legend_x + 16}" y="{MARGIN + 58}" font-size="12">{escape(server)}</text>')
        legend_x += 30 + 8 * len(server)
    for panel, x, y in placed:
        draw_panel(out, panel, x, y)
    produced = f"Benchmarks/run.sh on {date}" if date else "Benchmarks/run.sh"
    out.append(f'<text x="{MARGIN}" y="{caption_y + 12}" font-size="12" fill="#333333">{escape(produced)}: {escape(machine)}</text>')
    out.append(
        f'<text x="{MARGIN}" y="{caption_y + 28}" font-size="11" fill="#555555">'
        "Everything on loopback; BENCHMARKS.md has the table, the method and the notes on this run.</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description="Draws BENCHMARKS.md's main table as an SVG bar chart.")
    parser.add_argument("table", nargs="?", default=os.path.join(root, "BENCHMARKS.md"), help="BENCHMARKS.md (default: the repository's)")
    parser.add_argument("-o", "--output", default=os.path.join(root, "Benchmarks", "results.svg"), help="the SVG to write")
    arguments = parser.parse_args()
    try:
        with open(arguments.table, encoding="utf-8") as file:
            rows, date, machine = parse(file.read())
    except (OSError, ValueError) as error:
        print(f"chart.py: {arguments.table}: {error}", file=sys.stderr)
        return 1
    if not rows:
        print(f"chart.py: {arguments.table}: the table has no rows", file=sys.stderr)
        return 1
    svg = render(rows, date, machine)
    temporary = arguments.output + ".tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(svg)
    os.replace(temporary, arguments.output)
    print(f"chart.py: wrote {arguments.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
