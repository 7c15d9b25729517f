"""The framework's own small tasks: plugin hooks and per-resource markers."""

from taskflow import task


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
