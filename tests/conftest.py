"""Every test gets its own stackvault data directory (XDG_DATA_HOME), so
the operations database of one test never leaks into another, nor into
the developer's own ~/.local/share/stackvault."""

import os

import pytest
from hypothesis import settings

from tests.fakes import fuzz


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME",
                       str(tmp_path_factory.mktemp("xdg-data")))


def pytest_configure(config):
    """The fuzz tests' bounded profile (tests/fakes/fuzz.py)."""
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fuzz"))


def pytest_sessionfinish(session):
    """Under pytest-xdist, a worker hands its counts to the controller,
    which prints them (make test runs the suite in parallel)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fuzz_tried"] = dict(fuzz.TRIED)


def pytest_testnodedown(node, error):
    """The controller's side of :func:`pytest_sessionfinish`."""
    for target, tried in getattr(node, "workeroutput", {}).get(
            "fuzz_tried", {}).items():
        fuzz.TRIED[target] = fuzz.TRIED.get(target, 0) + tried


def pytest_terminal_summary(terminalreporter):
    """How many inputs the fuzz tests tried, per target."""
    if not fuzz.TRIED:
        return
    terminalreporter.section("fuzz inputs tried")
    for target, tried in sorted(fuzz.TRIED.items()):
        terminalreporter.write_line(f"{target}: {tried}")
    terminalreporter.write_line(
        f"total: {sum(fuzz.TRIED.values())} inputs")
