"""Comparing the datasource's rows with Heat's own answers.

A datasource cell holds Heat's value as is, except a list or a map, which
is JSON text; a cell matches Heat's value when it is that value, or JSON
text that parses to it. Only the columns Heat's answer also has are
compared: the datasource's own columns (``stack_id``, ``owner_stack_id``,
...) have nothing to compare with.
"""

import json


def cell_matches(cell, value):
    if isinstance(value, (dict, list)):
        try:
            return json.loads(cell) == value
        except (TypeError, ValueError):
            return False
    return cell == value


def differences(row, answer):
    """{column: (datasource cell, Heat's value)} where they differ."""
    return {column: (cell, answer[column]) for column, cell in row.items()
            if column in answer and not cell_matches(cell, answer[column])}


def keyed(rows, key):
    """Rows by ``key(row)``; a key seen twice is an error."""
    found = {}
    for row in rows:
        k = key(row)
        if k in found:
            raise AssertionError(f"two rows for {k}: {found[k]} and {row}")
        found[k] = row
    return found
