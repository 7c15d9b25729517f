"""The conductor's periodic hook that runs due plans.

``stackvault conductor`` (:mod:`protection.cli.conductor`) hands a
:class:`DuePlans` to its Ticker (:class:`protection.operations.conductor.
Ticker`, ``periodic=``): the conductor itself knows nothing of plans, so
operations never import plans.
"""

import logging
import threading

from protection.plans import schedule

LOG = logging.getLogger(__name__)
PLAN_INTERVAL = 30.0    # seconds between two looks for due plans


class DuePlans:
    """The periodic hook that runs due plans in a conductor.

    Every conductor looks every ``PLAN_INTERVAL`` seconds;
    :func:`protection.plans.schedule.run_due` claims each due slot with one
    compare-and-swap in the shared database, so one conductor runs it,
    once. The runs go in a thread of their own (one look at a time), so
    the ticker that extends job claims is never held up by a protect. A
    conductor killed during a plan's protect leaves an ``interrupted``
    operation (``stackvault operation resume|abort``), like any protect.
    """

    def __init__(self, service, connect):
        self._service = service
        self._connect = connect
        self._busy = threading.Lock()

    def __call__(self):
        if not self._busy.acquire(blocking=False):
            return      # the previous look is still running its plans
        threading.Thread(target=self._run, name="due-plans",
                         daemon=True).start()

    def _run(self):
        try:
            for run in schedule.run_due(self._service, self._connect):
                LOG.info("plan %s: %s, checkpoint %s%s", run.plan,
                         run.status, run.checkpoint_id,
                         f": {run.error}" if run.error else "")
        except Exception:  # noqa: BLE001 - logged; the next look retries
            LOG.exception("running due plans failed")
        finally:
            self._busy.release()
