"""Every test gets its own stackvault data directory (XDG_DATA_HOME), so
the operations database of one test never leaks into another, nor into
the developer's own ~/.local/share/stackvault."""

import pytest


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME",
                       str(tmp_path_factory.mktemp("xdg-data")))
