"""The report of ``restore --dry-run`` and of every restore's pre-flight.

:func:`preview` builds the restore's flow exactly as the restore would
(and never runs it) to read its stages and steps (:mod:`flows.stages`),
asks every plugin's ``restore_preflight`` hook
(:mod:`protection.restore.preflight`), adds the checkpoint's integrity
and the project's quotas (:mod:`protection.restore.quotas`), and returns
a :class:`~protection.restore.preflight.Report`. Nothing is created: the
hooks only read, the flow is only built.
"""

from concurrent import futures

from flows import contract
from flows import stages as flow_stages
from protection.restore import preflight
from protection.restore import quotas
from protection.operations import runner as runner_mod
from protection.restore import selection
from protection.plugin.context import ResourceContext
from protection.model.progress import Progress
from protection.model.restored_ids import RestoredIds


def _context_factory(service, checkpoint, conn, parameters, metadata,
                     restored):
    progress = Progress()

    def make(resource):
        return ResourceContext(
            operation=contract.RESTORE, resource=resource, conn=conn,
            bank=checkpoint.section(resource),
            parameters=parameters.get(resource.key, {}), restored=restored,
            progress=progress.for_resource(contract.RESTORE, resource),
            timeouts=service.timeouts, conf=service.conf,
            checkpoint_id=checkpoint.id,
            metadata=metadata.get(resource.key, {}))
    return make


def preview(service, checkpoint, graph, conn, parameters, metadata,
            problems):
    """The stages, mappings and verdicts of restoring ``graph`` (the
    checkpoint's graph, or a selection of it) into ``conn``'s project.

    ``parameters`` and ``metadata`` are keyed by resource key (validated
    and loaded as the restore does); ``problems``: the checkpoint's
    integrity problems (``[]``: it verifies).
    """
    report = preflight.Report(checkpoint.id)
    built = runner_mod.build_flow(
        service.registry, contract.RESTORE, graph, _context_factory(
            service, checkpoint, conn, parameters, metadata,
            RestoredIds()))
    report.stages = flow_stages.stages(built)
    report.steps = flow_stages.steps(built)
    report.excluded = selection.excluded(checkpoint.graph, graph)
    report.checks.append(preflight.integrity_check(problems))
    hooks_and_quotas(service.registry, graph, _context_factory(
        service, checkpoint, conn, parameters, metadata, RestoredIds()),
        conn, report)
    return report


def hooks_and_quotas(registry, graph, make_context, conn, report):
    """The plugins' pre-flight hooks (:func:`preflight.run_hooks`) and
    the quota checks of what they demand, into ``report``. The quotas
    are read while the hooks run, not after them: which services the
    hooks can demand of is known from their plugins' declarations (a
    service nothing turns out to demand of was read for nothing: one
    request)."""
    services = quotas.declared_services(registry, graph)
    with futures.ThreadPoolExecutor(
            max(1, len(services)),
            thread_name_prefix="stackvault-quota") as pool:
        ahead = quotas.read_ahead(pool, conn, services)
        preflight.run_hooks(registry, graph, make_context, report)
        report.checks += quotas.checks(conn, report.demands,
                                       registry.quota_labels(), ahead)
