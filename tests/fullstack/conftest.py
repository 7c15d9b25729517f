"""Fullstack tests: a real OpenStack cloud named by ``OS_CLOUD``.

Point ``OS_CLOUD`` (and ``OS_CLIENT_CONFIG_FILE`` if the clouds.yaml is not in
a standard place) at any cloud: devcloud (``eval "$(tools/devcloud env)"``)
or a devstack.  Admin and alt clouds are ``<OS_CLOUD>-admin`` and
``<OS_CLOUD>-alt`` when clouds.yaml has them, or ``OS_CLOUD_ADMIN`` and
``OS_CLOUD_ALT``; tests that need them skip otherwise.

Without ``OS_CLOUD`` every test here is skipped with one reason, except when
``CI`` is set: then each one fails, because CI must never pass by skipping.

Every wait is bounded (``wait_for``), every resource a test makes is
registered with ``cleanup`` and deleted at teardown even if the test failed.
"""

import os
import secrets
from pathlib import Path

import pytest

from tests.fakes import crash_world
from tools.cloudkit.waits import DEFAULT_TIMEOUT
from tools.cloudkit.waits import wait_for
from tools.cloudkit.waits import wait_gone
from tools.cloudkit.waits import wait_status

HERE = Path(__file__).resolve().parent


def _ci():
    return os.environ.get("CI", "").strip().lower() not in (
        "",
        "0",
        "false",
        "no",
    )


def _no_cloud_reason():
    return (
        'fullstack: OS_CLOUD is not set (e.g. eval "$(tools/devcloud env)" '
        "after tools/devcloud up)"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.fullstack)


def _need_cloud():
    """Skip (or, in CI, fail) unless OS_CLOUD names a cloud.

    Raised from a hook (not a fixture), every skipped test reports this one
    location, so the summary is one line: ``SKIPPED [N] .../conftest.py:..``.
    """
    if os.environ.get("OS_CLOUD"):
        return os.environ["OS_CLOUD"]
    if _ci():
        pytest.fail(
            "CI is set but OS_CLOUD is not: fullstack tests must run in "
            "CI (tools/devcloud up, then OS_CLOUD=devcloud)",
            pytrace=False,
        )
    pytest.skip(_no_cloud_reason())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _need_cloud()


def _cloud_names():
    import openstack.config

    return set(openstack.config.OpenStackConfig().get_cloud_names())


def _connect(name):
    import openstack

    return openstack.connect(cloud=name)


@pytest.fixture(scope="session")
def cloud_name():
    return _need_cloud()


@pytest.fixture(scope="session")
def conn(cloud_name):
    c = _connect(cloud_name)
    yield c
    c.close()


def _related_cloud(cloud_name, suffix, env):
    name = os.environ.get(env)
    if not name:
        candidate = "%s-%s" % (cloud_name, suffix)
        if candidate in _cloud_names():
            name = candidate
    if not name:
        pytest.skip(
            "no %s cloud: set %s or add '%s-%s' to clouds.yaml"
            % (suffix, env, cloud_name, suffix)
        )
    c = _connect(name)
    return c


@pytest.fixture(scope="session")
def admin_conn(cloud_name):
    c = _related_cloud(cloud_name, "admin", "OS_CLOUD_ADMIN")
    yield c
    c.close()


@pytest.fixture(scope="session")
def alt_conn(cloud_name):
    c = _related_cloud(cloud_name, "alt", "OS_CLOUD_ALT")
    yield c
    c.close()


class Cleanup:
    """Callables run in reverse order; every one is attempted."""

    def __init__(self):
        self._calls = []

    def __call__(self, fn, *args, **kwargs):
        self._calls.append((fn, args, kwargs))
        return fn

    add = __call__

    def run(self):
        failures = []
        while self._calls:
            fn, args, kwargs = self._calls.pop()
            try:
                fn(*args, **kwargs)
            except Exception as exc:  # report all, stop at none
                failures.append(
                    "%s%r: %s: %s"
                    % (
                        getattr(fn, "__qualname__", fn),
                        args,
                        type(exc).__name__,
                        exc,
                    )
                )
        return failures


@pytest.fixture
def cleanup():
    c = Cleanup()
    yield c
    failures = c.run()
    if failures:
        pytest.fail(
            "cleanup failed:\n  " + "\n  ".join(failures), pytrace=False
        )


@pytest.fixture
def waits():
    """The bounded wait helpers, for tests that prefer a fixture."""

    class W:
        pass

    w = W()
    w.wait_for, w.wait_status, w.wait_gone = wait_for, wait_status, wait_gone
    return w


@pytest.fixture
def random_image(conn, cleanup):
    """Factory: upload ``size`` random bytes as a bare raw image.

    Returns ``(image, data)``; the image is deleted at teardown.
    """

    def make(size=1024 * 1024, name=None):
        data = secrets.token_bytes(size)
        image = conn.image.create_image(
            name=name or "fullstack-%s" % secrets.token_hex(4),
            data=data,
            disk_format="raw",
            container_format="bare",
            allow_duplicates=True,
            wait=True,
            timeout=DEFAULT_TIMEOUT,
        )
        cleanup(_ignore_missing(conn.image.delete_image), image)
        wait_status(
            lambda: conn.image.get_image(image.id),
            "active",
            failures=("killed", "deleted"),
            what="image %s" % image.id,
        )
        return image, data

    return make


def _ignore_missing(delete):
    def call(res):
        delete(res, ignore_missing=True)

    call.__qualname__ = getattr(delete, "__qualname__", "delete")
    return call


# -- the crash tests' application (tests/fakes/crash_world.py) ---------------
# Module fixtures of test_crash_resume and test_conductor, each on the
# ``world`` (a crash_world.World) that module defines.
@pytest.fixture(scope="module")
def app(conn, world):
    """The live demo application, gone with everything of its prefix at the
    end of the module."""
    yield from crash_world.live_application(conn, world)


@pytest.fixture(scope="module")
def checkpoint(world, app):
    """The id of a checkpoint of ``app``, protected without a crash."""
    return crash_world.protect_application(world, app)


@pytest.fixture(scope="module")
def deleted_app(conn, world, app, checkpoint):
    """``app``, protected and then deleted: the restore cases' start."""
    return crash_world.delete_application(conn, world, app)
