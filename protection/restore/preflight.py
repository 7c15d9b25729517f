"""Restore's pre-flight: what a restore would do and whether it can.

Before a restore creates anything (and for ``restore --dry-run``, which
creates nothing at all) every resource's plugin is asked, children first,
through its optional ``restore_preflight`` hook
(:class:`protection.plugin.ProtectionPlugin`), what restoring it would
need (the resources of one level of the graph at once). A plugin answers
with three kinds of items, all plugin-agnostic here:

:class:`~protection.plugin.checks.Mapping`  a value resolved in the target
cloud (flavor, network,
                  availability zone, name ...), original -> target;
:class:`~protection.plugin.checks.Check`    a verdict (``pass``, ``fail`` or
``unknown`` when the
                  cloud would not say), with the reason;
:class:`~protection.plugin.checks.Demand`   quota the restore would use
(``compute.cores``: 2),
                  summed over the whole restore and compared with the
                  project's free quota (:mod:`protection.restore.quotas`).

The hooks see a preview of the restore's map of new ids: every resource
(and sub-object a plugin announces) that the restore would create before
a parent holds a placeholder (:func:`~protection.plugin.checks.placeholder`),
so a parent resolves its children as the restore would. Excluded resources hold
none: a parent must map them to an existing resource, or its checks fail saying
why.
"""

from concurrent import futures
import dataclasses
import logging

from openstack import exceptions as sdk_exceptions

from protection import exceptions
from protection.model.resource import key_str
from protection.plugin.checks import Check
from protection.plugin.checks import Demand
from protection.plugin.checks import FAIL
from protection.plugin.checks import PASS
from protection.plugin.checks import placeholder
from protection.plugin import registry as plugin_registry

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Report:
    """A dry-run or pre-flight: the stages (shown as the ``plan``), the
    mappings and the verdicts."""

    checkpoint_id: str
    stages: list = dataclasses.field(default_factory=list)
    steps: dict = dataclasses.field(default_factory=dict)
    excluded: list = dataclasses.field(default_factory=list)
    mappings: list = dataclasses.field(default_factory=list)
    checks: list = dataclasses.field(default_factory=list)
    demands: dict = dataclasses.field(default_factory=dict)

    @property
    def failing(self):
        return [c for c in self.checks if c.verdict == FAIL]

    @property
    def ok(self):
        return not self.failing

    def to_dict(self):
        return {
            "checkpoint_id": self.checkpoint_id,
            "ok": self.ok,
            "plan": [{"stage": number, "parallel": [key_str(r.key)
                                                    for r in stage]}
                     for number, stage in enumerate(self.stages, 1)],
            "steps": self.steps,
            "excluded": self.excluded,
            "mappings": [dataclasses.asdict(m) for m in self.mappings],
            "checks": [dataclasses.asdict(c) for c in self.checks],
            "demands": self.demands,
            "failing": [str(c) for c in self.failing],
        }


# Hooks of one level run at once: they mostly wait for the cloud's answers.
PREFLIGHT_WORKERS = 8


def _ask(plugin, ctx, resource):
    """One resource's hook's items; a failure of the hook itself is a
    failing check, never a traceback. A demand of a quota name the plugin
    does not declare is a contract error (PluginError)."""
    try:
        items = list(plugin.restore_preflight(ctx, resource) or ())
    except (exceptions.StackvaultError, sdk_exceptions.SDKException) as exc:
        return [Check("pre-flight", FAIL, str(exc))]
    except Exception as exc:  # noqa: BLE001 - a hook's bug, or bad metadata
        # A checkpoint whose recorded resource data a hook cannot read
        # (hashes rewritten to match) must fail its check, not the run.
        LOG.debug("pre-flight hook of %s failed", key_str(resource.key),
                  exc_info=True)
        return [Check("pre-flight", FAIL,
                      f"the hook failed: {type(exc).__name__}: {exc}")]
    for item in items:
        if isinstance(item, Demand):
            plugin_registry.check_demand(plugin, item.quota)
    return items


def _add(report, resource, items):
    where = key_str(resource.key)
    for item in items:
        if isinstance(item, Demand):
            report.demands[item.quota] = report.demands.get(
                item.quota, 0) + item.amount
            continue
        item.resource = where
        (report.checks if isinstance(item, Check)
         else report.mappings).append(item)


def run_hooks(registry, graph, make_context, report):
    """Every resource's ``restore_preflight``, children first: the hooks
    of one level of the graph (:meth:`ResourceGraph.levels`) concurrently,
    their items added level by level in the levels' order, whatever the
    order the hooks finished in; each resource's placeholder is recorded
    once its level's hooks ran, before its parents' hooks run."""
    with futures.ThreadPoolExecutor(
            PREFLIGHT_WORKERS,
            thread_name_prefix="stackvault-preflight") as pool:
        for level in graph.levels():
            contexts = [make_context(resource) for resource in level]
            answers = list(pool.map(
                lambda pair: _ask(registry.get(pair[0].type), pair[1],
                                  pair[0]),
                zip(level, contexts)))
            for resource, ctx, items in zip(level, contexts, answers):
                _add(report, resource, items)
                if ctx.restored.get(resource.type, resource.id) is None:
                    ctx.restored.record(resource.type, resource.id,
                                        placeholder(resource.type,
                                                    resource.id))


def integrity_check(problems):
    if problems:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 \
            else ""
        return Check("checkpoint verifies", FAIL, shown + more)
    return Check("checkpoint verifies", PASS,
                 "every object matches its sha256")
