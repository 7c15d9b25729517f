"""TaskFlow tasks that plugins share (mechanics that live once)."""

from taskflow import task


class RecordNewId(task.Task):
    """Record what the restore created for this resource.

    ``symbol`` is the name another task of the same flow provides (for
    example ``new_volume_id``). Revert forgets the mapping, so a rolled-back
    restore does not report ids of things that no longer exist.
    """

    def __init__(self, symbol, name=None):
        super().__init__(name=name or f"record-{symbol}",
                         rebind={"new_id": symbol})

    def execute(self, ctx, new_id):
        ctx.record_new_id(new_id)

    def revert(self, ctx, **kwargs):
        ctx.forget_new_id()
