"""Microversions, as OpenStack APIs do them.

A client names the version it wants in ``OpenStack-API-Version:
data-protection X.Y`` (``latest``: the newest this server has); without
the header it gets the oldest. A version outside ``[MIN, MAX]`` is 406,
a malformed one 400. Every response of ``/v1`` names the version it was
made with in the same header, with ``Vary: OpenStack-API-Version``.

Only 1.0 exists: this module is the negotiation the next versions plug
into (a handler compares ``request.version`` with ``Version(1, 1)``).
"""

import dataclasses
import re

from protection.api import errors

SERVICE_TYPE = "data-protection"
HEADER = "OpenStack-API-Version"
_FORMAT = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$")


@dataclasses.dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int

    def __str__(self):
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text):
        match = _FORMAT.match(text.strip())
        if not match:
            raise errors.BadRequest(
                f"{HEADER}: {text!r} is not a version (X.Y or 'latest')")
        return cls(int(match.group(1)), int(match.group(2)))


MIN_VERSION = Version(1, 0)
MAX_VERSION = Version(1, 0)


def requested(header_value):
    """Our service's entry of the header (``"compute 2.1,
    data-protection 1.0"`` -> ``"1.0"``), or ``None``."""
    for entry in (header_value or "").split(","):
        service, _, version = entry.strip().partition(" ")
        if service.lower() == SERVICE_TYPE:
            return version.strip()
    return None


def negotiate(header_value):
    """The Version a request is served with; raises 400 or 406."""
    wanted = requested(header_value)
    if wanted is None:
        return MIN_VERSION
    if wanted.lower() == "latest":
        return MAX_VERSION
    version = Version.parse(wanted)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise errors.NotAcceptable(
            f"version {version} is not supported: this server serves "
            f"{SERVICE_TYPE} {MIN_VERSION} to {MAX_VERSION}")
    return version


def headers(version):
    return {HEADER: f"{SERVICE_TYPE} {version}", "Vary": HEADER}
