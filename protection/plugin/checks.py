"""What a plugin answers restore's pre-flight with (its optional
``restore_preflight`` hook, :class:`protection.plugin.ProtectionPlugin`).

:class:`Mapping`  a value resolved in the target cloud (flavor, network,
                  availability zone, name ...), original -> target;
:class:`Check`    a verdict (``pass``, ``fail`` or ``unknown`` when the
                  cloud would not say), with the reason;
:class:`Demand`   quota the restore would use (``compute.cores``: 2),
                  summed over the whole restore and compared with the
                  project's free quota (:mod:`protection.restore.quotas`).
                  A plugin demands only the quota names it declares in
                  its ``quota_demands``, checked when it loads
                  (:func:`quota_declaration_problems`).

:func:`placeholder` is what the preview holds as the new id of something
the restore would create. The framework runs the hooks and judges their
answers in :mod:`protection.restore.preflight`.
"""

import dataclasses
import re
import typing

from openstack import exceptions as sdk_exceptions

from protection import exceptions

__all__ = ["FAIL", "PASS", "QUOTA_SERVICES", "UNKNOWN", "Check", "Demand",
           "Mapping", "attempt", "is_placeholder", "placeholder",
           "quota_declaration_problems"]

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
    quota: str          # SERVICE.FIELD, declared in the plugin's quota_demands
    amount: int


# A quota name is SERVICE.FIELD: SERVICE says which answer of the target
# project's quotas it is read from (one request per service, whatever the
# number of names), FIELD the field of that answer.
QUOTA_SERVICES = {
    "compute": "Nova's quota set with usage: FIELD's limit, in use and "
               "reserved",
    "volume": "Cinder's quota set with usage: FIELD's limit, in use and "
              "reserved",
    "network": "Neutron's quota details: FIELD's limit, used and reserved",
    "image": "Glance's unified limits (/v2/info/usage): FIELD's limit and "
             "usage",
}
_QUOTA_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")


def quota_declaration_problems(declared):
    """What is wrong with a plugin's ``quota_demands`` (``{"SERVICE.FIELD":
    "what users call it"}``): a list of sentences, empty when nothing."""
    if not isinstance(declared, dict):
        return [f"must be a dict of SERVICE.FIELD -> label, not "
                f"{type(declared).__name__}"]
    problems = []
    for name, label in declared.items():
        service, dot, field = str(name).partition(".")
        if not isinstance(name, str) or not dot or \
                not _QUOTA_FIELD.match(field):
            problems.append(f"{name!r} is not SERVICE.FIELD (a lowercase "
                            "field such as compute.server_groups)")
        elif service not in QUOTA_SERVICES:
            problems.append(f"{name!r}: no quota service {service!r} (known: "
                            f"{', '.join(QUOTA_SERVICES)})")
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{name!r}: its label (what users call it) must "
                            "be a non-empty string")
    return problems


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
