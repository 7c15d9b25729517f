"""The framework's own small tasks: plugin hooks and per-resource markers,
and the last stage of a restore."""

from concurrent import futures
import logging

from taskflow import task

LOG = logging.getLogger(__name__)
UNMARK_WORKERS = 32


class HookTask(task.Task):
    """Call one plugin hook (``on_prepare_begin`` ...) for one resource.

    Hooks are notifications: they have nothing of their own to revert.
    """

    def __init__(self, plugin, hook, ctx, name):
        super().__init__(name=name)
        self._call = getattr(plugin, hook)
        self._ctx = ctx

    def execute(self):
        self._call(self._ctx, self._ctx.resource)


class ResourceStarted(task.Task):
    """First task of a resource's main flow: reports it running.

    Its revert runs after every other task of the resource was reverted, so
    it reports the resource as reverted (rolled back).
    """

    def __init__(self, ctx, name):
        super().__init__(name=name)
        self._ctx = ctx

    def execute(self):
        self._ctx.progress.running()

    def revert(self, **kwargs):
        self._ctx.progress.reverted()


class ResourceFinished(task.Task):
    """Last task of a resource's main flow: reports it done, and provides
    its restored id (``restored_child``) to the parents' tasks that name
    it (None when nothing was restored for it)."""

    def __init__(self, ctx, name, provides=None):
        super().__init__(name=name, provides=provides)
        self._ctx = ctx

    def execute(self):
        self._ctx.progress.done()
        restored, resource = self._ctx.restored, self._ctx.resource
        if restored is None:
            return None
        return restored.get(resource.type, resource.id)

    def revert(self, **kwargs):
        self._ctx.progress.reverting()


class Barrier(task.Task):
    """A no-op that other tasks wait on (``prepared``: prepare hooks done)."""

    def execute(self):
        pass


class Abort(task.Task):
    """Fails at once: the flow it precedes reverts everything that ran.

    ``operation abort`` rebuilds an interrupted operation's flow with this
    atom ahead of every other, so nothing new starts and TaskFlow reverts,
    in a safe order, every atom that had finished.
    """

    def execute(self):
        raise AbortRequested("the operation was aborted")


class AbortRequested(Exception):
    pass


class Unmark(task.Task):
    """A restore's last stage: after every resource's ``on_complete``, each
    plugin atom that defines ``unmark(ctx, conn)`` takes the marks off
    what it created (``contract.UNMARK``). Until then everything a restore
    made carries its marks, so that every undo can prove it.

    ``steps``: ``[(atom, ctx)]``, all called at once (up to
    ``UNMARK_WORKERS`` threads: the calls are independent, each one
    object, and the stage is on the restore's critical path, so a slow
    service's object must not wait for a free worker). It never fails:
    a restore that worked is not rolled back because a mark stayed. An
    atom's ``unmark`` reports what it could not do itself; an exception
    it lets out is handed to ``on_error(atom name, exception)`` and
    logged. Its revert does nothing: the atoms' own reverts undo what
    they created.
    """

    def __init__(self, steps, on_error, name):
        super().__init__(name=name)
        self._steps = steps
        self._on_error = on_error

    def _one(self, atom, ctx):
        try:
            atom.unmark(ctx, ctx.conn)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            LOG.warning("%s: marks not taken off: %s", atom.name, exc)
            self._on_error(atom.name, exc)

    def execute(self):
        if not self._steps:
            return
        workers = min(UNMARK_WORKERS, len(self._steps))
        with futures.ThreadPoolExecutor(max_workers=workers) as pool:
            for done in [pool.submit(self._one, atom, ctx)
                         for atom, ctx in self._steps]:
                done.result()
