"""A ProtectionService for tests: the plugins of ``fake_cloud`` (or those
given), a FileSystemBank under the test's temporary directory, and as many
engine workers as asked, with the default configuration otherwise.

Built by the public :func:`protection.testing.make_service` (one way to
make a test's service), with what these tests always had: the operations
database in the test's data directory (``XDG_DATA_HOME``, one per test)
and the production timeouts, not the short ones of
:data:`protection.testing.TEST_TIMEOUTS`."""

from protection import config
from protection import testing
from tests.fakes import fake_cloud

DEFAULT_TIMEOUTS = {opt.dest: opt.default for opt in config.timeout_opts}


def make_service(tmp_path, workers=8, plugins=fake_cloud.ALL):
    """``plugins``: plugin classes, each made with no arguments."""
    return testing.make_service(
        [p() for p in plugins], tmp_path, engine={"max_workers": workers},
        persistence={"connection": None}, timeouts=dict(DEFAULT_TIMEOUTS))
