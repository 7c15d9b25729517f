"""Reading what a restore pre-flight hook returns: its items by kind, and
the calls it made that would change the cloud (a pre-flight makes none)."""

import re

from protection.plugin.checks import Check
from protection.plugin.checks import Demand
from protection.plugin.checks import Mapping

# A call whose name says it changes something; a dry-run makes none.
MUTATING = re.compile(r"(^|\.)(create|delete|update|set|add|remove|attach|"
                      r"detach|upload|import)_?")


def mutating_calls(conn):
    """The calls made on the mock ``conn`` whose names say they change
    something."""
    return [name for name, _args, _kw in conn.mock_calls
            if MUTATING.search(name)]


def by_kind(items):
    """``(checks by name, [(what, original, target)], {quota: amount})``."""
    checks = {c.name: c for c in items if isinstance(c, Check)}
    maps = [(m.what, m.original, m.target) for m in items
            if isinstance(m, Mapping)]
    demands = {d.quota: d.amount for d in items
               if isinstance(d, Demand)}
    return checks, maps, demands
