"""What a plugin answers restore's pre-flight with (its optional
``restore_preflight`` hook, :class:`protection.plugin.ProtectionPlugin`).

:class:`Mapping`  a value resolved in the target cloud (flavor, network,
                  availability zone, name ...), original -> target;
:class:`Check`    a verdict (``pass``, ``fail`` or ``unknown`` when the
                  cloud would not say), with the reason;
:class:`Demand`   quota the restore would use (``compute.cores``: 2),
                  summed over the whole restore and compared with the
                  project's free quota (:mod:`protection.restore.quotas`).

:func:`placeholder` is what the preview holds as the new id of something
the restore would create. The framework runs the hooks and judges their
answers in :mod:`protection.restore.preflight`.
"""

import dataclasses
import typing

from openstack import exceptions as sdk_exceptions

from protection import exceptions

__all__ = ["FAIL", "PASS", "UNKNOWN", "Check", "Demand", "Mapping", "attempt",
           "is_placeholder", "placeholder"]

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
_PLACEHOLDER = "<new>"


def placeholder(rtype, original_id):
    """What the preview records as the new id of something the restore
    would create."""
    return f"{_PLACEHOLDER} {rtype} {original_id}"


def is_placeholder(value):
    return isinstance(value, str) and value.startswith(_PLACEHOLDER)


@dataclasses.dataclass
class Check:
    name: str
    verdict: str
    detail: str = ""
    resource: typing.Optional[str] = None    # TYPE#ID, set by the framework

    @classmethod
    def of(cls, name, ok, detail=""):
        return cls(name, PASS if ok else FAIL, detail)

    def __str__(self):
        where = f"{self.resource}: " if self.resource else ""
        return f"{where}{self.name}: {self.detail}" if self.detail else \
            f"{where}{self.name}"


@dataclasses.dataclass
class Mapping:
    what: str
    original: typing.Any
    target: typing.Any
    resource: typing.Optional[str] = None


@dataclasses.dataclass
class Demand:
    quota: str          # SERVICE.NAME, see protection.restore.quotas.QUOTAS
    amount: int


def attempt(items, name, call, describe=lambda value: ""):
    """Run one resolution the restore would run; append its verdict to
    ``items`` and return its value (``None`` when it failed)."""
    try:
        value = call()
    except (exceptions.StackvaultError,
            sdk_exceptions.SDKException) as exc:
        items.append(Check(name, FAIL, str(exc)))
        return None
    items.append(Check(name, PASS, describe(value)))
    return value
