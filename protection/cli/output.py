"""OpenStack-client style output: ``-f table|json|yaml|value|csv``."""

import csv
import io
import json
import shutil
import unicodedata

import yaml

FORMATS = ("table", "json", "yaml", "value", "csv")


def one_line(text):
    """``text`` with its control characters escaped (``\\n``,
    ``\\x1b``, ``\\u2028``): an error quoting what the user typed stays
    one line and cannot drive the terminal."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char
        for char in str(text))


def _cell(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def render_list(columns, rows, fmt):
    """Rows of a listing (``resource list``, ``checkpoint list``)."""
    rows = [list(r) for r in rows]
    if fmt == "json":
        return json.dumps([dict(zip(columns, r)) for r in rows], indent=2,
                          sort_keys=True)
    if fmt == "yaml":
        return yaml.safe_dump([dict(zip(columns, r)) for r in rows],
                              default_flow_style=False, sort_keys=True)
    if fmt == "value":
        return "\n".join(" ".join(_cell(v) for v in r) for r in rows)
    if fmt == "csv":
        return _csv(columns, rows)
    return _table(columns, [[_cell(v) for v in r] for r in rows])


def render_one(data, fmt):
    """One object (``checkpoint show``, results): Field/Value in a table."""
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True)
    if fmt == "yaml":
        return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)
    if fmt == "value":
        return "\n".join(_cell(v) for v in data.values())
    if fmt == "csv":
        return _csv(["Field", "Value"], list(data.items()))
    width = max(20, shutil.get_terminal_size((100, 20)).columns - 30)
    rows = []
    for key, value in data.items():
        if isinstance(value, dict) and value and fmt == "table":
            value = "\n".join(f"{k}: {_cell(v)}" for k, v in value.items())
        elif isinstance(value, list) and fmt == "table":
            value = "\n".join(_cell(v) for v in value)
        text = _cell(value)
        if "\n" not in text and len(text) > width:
            text = "\n".join(text[i:i + width]
                             for i in range(0, len(text), width))
        rows.append([key, text])
    return _table(["Field", "Value"], rows)


def _csv(columns, rows):
    """RFC 4180 CSV with a header row, as ``openstack -f csv`` writes it
    (every field quoted; containers as JSON text)."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def _table(columns, rows):
    """A boxed table; a cell may hold several lines."""
    split = [[c.split("\n") for c in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in split:
        widths = [max(w, max(len(x) for x in cell))
                  for w, cell in zip(widths, row)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values):
        return "| " + " | ".join(v.ljust(w) for v, w in
                                 zip(values, widths)) + " |"
    out = [rule, line(columns), rule]
    for row in split:
        height = max(len(cell) for cell in row)
        for i in range(height):
            out.append(line([cell[i] if i < len(cell) else ""
                             for cell in row]))
    out.append(rule)
    return "\n".join(out)
