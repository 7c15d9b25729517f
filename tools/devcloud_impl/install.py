"""Install what is missing: Debian packages and the two virtualenvs.

The services virtualenv and Swift's virtualenv live in the cache directory,
named by a hash of the constraints file and the pins (see paths.py).  A
virtualenv counts as installed once its ``.devcloud-installed`` marker exists,
so an interrupted install is redone from scratch.
"""

import os
import shutil
import subprocess
import sys
import time

from . import paths

MARKER = ".devcloud-installed"


def _missing_debs():
    missing = []
    for pkg in paths.APT_PACKAGES:
        r = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg],
            capture_output=True,
            text=True,
        )
        if "install ok installed" not in r.stdout:
            missing.append(pkg)
    return missing


def install_debs(log):
    missing = _missing_debs()
    if not missing:
        return False
    print(
        "devcloud: installing Debian packages: %s" % " ".join(missing),
        flush=True,
    )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Never let the packages start their own system services: devcloud
    # starts its own copies, on its own data directories.
    policy = "/usr/sbin/policy-rc.d"
    made_policy = False
    if not os.path.exists(policy):
        with open(policy, "w") as f:
            f.write(
                "#!/bin/sh\n"
                "# written by stackvault devcloud during apt-get install\n"
                "exit 101\n"
            )
        os.chmod(policy, 0o755)
        made_policy = True
    try:
        with open(log, "ab") as out:
            for argv in (
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
                + missing,
            ):
                rc = subprocess.run(
                    argv,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=900,
                ).returncode
                if rc != 0:
                    raise RuntimeError(
                        "%s failed (exit %d), see %s" % (argv[:2], rc, log)
                    )
    finally:
        if made_policy:
            os.unlink(policy)
    return True


def _venv(venv, pins, log, label):
    if (venv / MARKER).exists():
        return False
    print("devcloud: installing %s into %s" % (label, venv), flush=True)
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "--disable-pip-version-check",
    ]
    with open(log, "ab") as out:
        for argv in (
            [sys.executable, "-m", "venv", str(venv)],
            pip + ["install", "-q", "-U", "pip", "wheel", "setuptools<81"],
            pip + ["install", "-c", str(paths.CONSTRAINTS)] + pins,
        ):
            out.write(("\n==== %s\n" % " ".join(argv)).encode())
            out.flush()
            rc = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=1800,
            ).returncode
            if rc != 0:
                raise RuntimeError(
                    "installing %s failed (exit %d), see %s" % (label, rc, log)
                )
    (venv / MARKER).write_text(" ".join(pins) + "\n")
    return True


def install_all(layout):
    """Install everything missing; return seconds spent (0 if nothing was)."""
    t0 = time.monotonic()
    layout.logs.mkdir(parents=True, exist_ok=True)
    log = layout.log("install")
    did = install_debs(log)
    did = (
        _venv(layout.venv, paths.SERVICE_PINS, log, "the OpenStack services")
        or did
    )
    did = _venv(layout.swift_venv, paths.SWIFT_PINS, log, "Swift") or did
    return time.monotonic() - t0 if did else 0.0
