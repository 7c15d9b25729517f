"""What a plugin's flows and hooks receive about the resource at hand."""

import dataclasses
import typing

from protection import wait
from protection.progress import ResourceProgress
from protection.resource import Resource
from protection.restored_ids import RestoredIds


@dataclasses.dataclass
class ResourceContext:
    """One resource's view of one operation.

    - ``conn``: the target cloud's ``openstack.connection.Connection``
      (the cloud being protected, or the one being restored into);
    - ``bank``: the resource's section of the checkpoint
      (:class:`protection.checkpoint.ResourceSection`);
    - ``metadata``: what protect saved for this resource (restore, delete,
      verify; empty during protect);
    - ``parameters``: merged and validated parameters;
    - ``restored``: the restore's
      :class:`~protection.restored_ids.RestoredIds`;
    - ``progress``: a :class:`~protection.progress.ResourceProgress`;
    - ``timeouts``: :class:`~protection.wait.Timeouts`; ``conf``: the config.
    """

    operation: str
    resource: Resource
    conn: typing.Any
    bank: typing.Any
    parameters: dict
    restored: RestoredIds
    progress: ResourceProgress
    timeouts: wait.Timeouts
    conf: typing.Any = None
    checkpoint_id: typing.Optional[str] = None
    metadata: dict = dataclasses.field(default_factory=dict)

    def wait_for_status(self, fetch, status, what, size_gib=None, **kwargs):
        """``protection.wait.wait_for_status`` with this context's timeouts."""
        if size_gib is not None and "timeout" not in kwargs:
            kwargs["timeout"] = self.timeouts.for_size(size_gib)
        return wait.wait_for_status(fetch, status, what=what,
                                    timeouts=self.timeouts, **kwargs)

    def wait_for_delete(self, fetch, what, **kwargs):
        return wait.wait_for_delete(fetch, what=what, timeouts=self.timeouts,
                                    **kwargs)

    def record_new_id(self, new_id, rtype=None, original_id=None):
        """Record what the restore created for this resource or sub-object."""
        self.restored.record(rtype or self.resource.type,
                             original_id or self.resource.id, new_id)

    def forget_new_id(self, rtype=None, original_id=None):
        self.restored.forget(rtype or self.resource.type,
                             original_id or self.resource.id)
