"""Where devcloud keeps things.

Two roots:

* the *state* directory (``$DEVCLOUD_HOME``, default ``<checkout>/.devcloud``):
  configs, databases, logs, pid files, volumes, images.  ``reset`` wipes it.
* the *cache* directory (``${XDG_CACHE_HOME:-~/.cache}/stackvault-devcloud``):
  the virtualenvs (services, Swift, and tempest for ``devcloud tempest``),
  keyed by a hash of the constraints file and the package pins, so
  ``reset`` never forces a reinstall and a change of pins installs a fresh
  virtualenv beside the old one.
"""

import hashlib
import os
from pathlib import Path

PKG_DIR = Path(__file__).resolve().parent
TOOLS_DIR = PKG_DIR.parent
CHECKOUT = TOOLS_DIR.parent
CONSTRAINTS = PKG_DIR / "upper-constraints.txt"

# One OpenStack release (2025.2 "Flamingo" services with the matching libs).
SERVICE_PINS = [
    "keystone==30.0.0",
    "glance==33.0.0",
    "cinder==29.0.0",
    "neutron==29.0.0",
    "nova==34.0.0",
    "openstack-placement==16.0.0",
    "openstack-heat==27.0.1",
    "openstacksdk",
    "gunicorn",
    "PyMySQL",
    "pyroute2",  # neutron-db-manage imports it; neutron does not declare it
]
SWIFT_PINS = ["swift==2.38.3", "keystonemiddleware"]
# tempest is branchless: this release supports the pinned OpenStack one.
TEMPEST_PINS = ["tempest==47.0.0", "openstacksdk"]

APT_PACKAGES = [
    "rabbitmq-server",
    "qemu-utils",
    "mariadb-server",
    "redis-server",  # stackvault's jobboard (stackvault_services.py)
]


def _pins_hash(pins):
    h = hashlib.sha256(CONSTRAINTS.read_bytes())
    h.update("\n".join(pins).encode())
    return h.hexdigest()[:12]


def state_dir():
    env = os.environ.get("DEVCLOUD_HOME")
    return Path(env).resolve() if env else CHECKOUT / ".devcloud"


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "stackvault-devcloud"


def services_venv():
    return cache_dir() / ("venv-services-" + _pins_hash(SERVICE_PINS))


def swift_venv():
    return cache_dir() / ("venv-swift-" + _pins_hash(SWIFT_PINS))


def tempest_venv():
    return cache_dir() / ("venv-tempest-" + _pins_hash(TEMPEST_PINS))


class Layout:
    """All paths below one state directory."""

    def __init__(self, root=None):
        self.root = Path(root) if root else state_dir()
        self.etc = self.root / "etc"
        self.data = self.root / "data"
        self.logs = self.root / "logs"
        self.run = self.root / "run"
        self.bin = self.root / "bin"  # the sudo shim lives here
        self.clouds_yaml = self.root / "clouds.yaml"
        self.nfs_export = (
            self.root / "nfs-export"
        )  # where volume files really live
        self.nfs_mounts = self.data / "cinder" / "mnt"
        self.backups = self.data / "cinder" / "backups"
        self.venv = services_venv()
        self.swift_venv = swift_venv()

    def etc_for(self, service):
        return self.etc / service

    def data_for(self, service):
        return self.data / service

    def log(self, name):
        return self.logs / (name + ".log")

    def vbin(self, exe):
        return str(self.venv / "bin" / exe)

    def sbin(self, exe):
        return str(self.swift_venv / "bin" / exe)

    def marker(self, name):
        return self.run / (name + ".done")

    def makedirs(self):
        for d in (
            self.etc,
            self.data,
            self.logs,
            self.run,
            self.bin,
            self.nfs_export,
            self.nfs_mounts,
            self.backups,
        ):
            d.mkdir(parents=True, exist_ok=True)
