"""The sweepers: queued operations whose job the jobboard lost are
posted again (:class:`QueuedSweeper`); the Keystone trusts of ended
operations that could not be deleted when they ended are deleted
(:class:`TrustSweeper`).

An operation posted for a conductor is ``queued`` until a conductor takes
it over. Its job lives only in the jobboard: a Redis restarted without
persistence (or a flushed etcd) forgets it, and the operation would stay
``queued`` for ever. Every conductor runs :class:`QueuedSweeper` among its
periodic hooks (:class:`protection.operations.conductor.Ticker`): an
operation queued for longer than a grace period (the poster queues it just
before posting its job) whose id no job names is posted again. Two
sweepers may see the same lost job: re-posting is a compare-and-swap of
the operation's generation (:meth:`~protection.operations.store.
OperationStore.requeue`), so only one posts it.
"""

import logging
import time

from protection.operations import jobboard
from protection.operations import store as ops

LOG = logging.getLogger(__name__)

SWEEP_INTERVAL = 60.0     # seconds between two sweeps of one conductor


class QueuedSweeper:
    """A periodic hook: re-post queued operations that have no job."""

    def __init__(self, stores, board, grace, clock=time.time):
        self.stores = stores
        self.board = board
        self.grace = grace
        self.clock = clock

    def __call__(self):
        """Sweep once; the ids of the operations posted again."""
        limit = self.clock() - self.grace
        stale = [op for op in self.stores.operations.list()
                 if op.status == ops.QUEUED and op.updated_at < limit]
        if not stale:
            return []
        named = jobboard.operations_named(self.board)
        posted = []
        for op in stale:
            if op.id in named or not self.stores.operations.requeue(op):
                continue
            book, _detail = self.stores.flows.load(op.id)
            jobboard.post_job(self.board, op, book)
            LOG.warning("operation %s was queued but no job named it "
                        "(the jobboard lost it): posted again", op.id)
            posted.append(op.id)
        return posted


class TrustSweeper:
    """A periodic hook: delete the trusts of ended operations.

    An operation that recorded a trust (:mod:`protection.auth`) deletes
    it when it ends (:func:`protection.service.running.end_trust`); when
    that fails (Keystone away, a conductor killed between the end and
    the delete), the trust's id stays in the operation's ``args`` and
    this deletes it later. A trust that cannot be deleted is forgotten
    once it expired (``trust_expires_at``): Keystone no longer honours
    it then. A trust lent by another operation (``trust_lent_by``) is
    that one's to delete; one whose operation's follow-up has not run
    yet (``follow_up``, a posted plan run's retention) is kept for it
    until it expires.
    """

    def __init__(self, stores, trusts, clock=time.time):
        self.stores = stores
        self.trusts = trusts
        self.clock = clock

    def __call__(self):
        """Sweep once; the ids of the operations whose trust went."""
        done = []
        for op in self.stores.operations.list():
            args = op.args or {}
            now = self.clock()
            trust_id = ops.trust_to_end(args, now)
            if op.status not in ops.FINAL or not trust_id:
                continue
            expired = now > (args.get("trust_expires_at") or 0)
            if self.trusts.delete_quietly(trust_id) or expired:
                if expired:
                    LOG.warning("trust %s of operation %s expired before "
                                "it could be deleted", trust_id, op.id)
                self.stores.operations.forget_trust(op.id, trust_id)
                done.append(op.id)
        return done
