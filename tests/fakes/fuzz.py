"""What the fuzz tests share: hostile values as hypothesis strategies,
and a count of the inputs tried per target, which the test session
prints at its end (``tests/conftest.py``)."""

import collections
import math

from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st

TRIED = collections.Counter()

# Bounded so that the suite stays a CI test (it runs in ``make test``);
# raise with HYPOTHESIS_PROFILE=fuzz-long for a longer search.
settings.register_profile(
    "fuzz", max_examples=60, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture,
                           HealthCheck.too_slow])
settings.register_profile(
    "fuzz-long", parent=settings.get_profile("fuzz"), max_examples=2000)

HUGE_NUMBERS = ["99999999999999999999", "-99999999999999999999",
                "1e400", "-1", "0", "NaN", "nan", "inf", "-Infinity",
                "9" * 400, "0x10", "1_000", " 7 ", "²"]

# Text a user (or an attacker) may type: every plane of unicode,
# control characters, and the ones filesystems and URLs treat specially.
SPECIAL = ["", " ", ".", "..", "../../etc/passwd", "/", "\\", "%00",
           "%2e%2e", "\t", "\n", "\r\n", "\x1b[31m", "\u202e", "\ufeff",
           "\U0001f4a9", "ｓｔａｃｋ", "a" * 5000, "=", ":", "#", "::",
           "OS::Nova::Server=", "Test::Server=web", "-", "--", "-h",
           "--debug"]


def text(allow_nul=False):
    """Hostile text: special strings, huge numbers, or random unicode
    with control characters (NUL only where a caller can send one: a
    process's argv cannot hold it)."""
    blacklist = () if allow_nul else ("\x00",)
    alphabet = st.characters(blacklist_characters=blacklist,
                             blacklist_categories=("Cs",))
    return st.one_of(st.sampled_from(SPECIAL + HUGE_NUMBERS),
                     st.text(alphabet, max_size=40),
                     st.text(alphabet, min_size=200, max_size=3000))


def _leaf():
    return st.one_of(st.none(), st.booleans(),
                     st.integers(min_value=-10 ** 30, max_value=10 ** 30),
                     st.floats(allow_nan=True, allow_infinity=True),
                     text(allow_nul=True))


def json_values():
    """Any JSON value (NaN and infinities too: Python's json writes
    them), nested a few levels."""
    return st.recursive(
        _leaf(), lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(text(allow_nul=True), inner, max_size=4)),
        max_leaves=12)


def deep(depth):
    """JSON text nested ``depth`` levels: ``[[[...]]]``."""
    return "[" * depth + "]" * depth


def is_finite(value):
    return not (isinstance(value, float) and not math.isfinite(value))


def count(target):
    """Note one input tried against ``target``."""
    TRIED[target] += 1
