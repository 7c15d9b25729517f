"""What went wrong in one step: the resource, the step, the cloud's words."""

import dataclasses
import typing

from openstack import exceptions as sdk_exceptions

from flows import contract


@dataclasses.dataclass(frozen=True)
class Failure:
    """One step that failed: which resource, which step, the cloud's words."""

    resource: typing.Any          # the Resource, or None for the operation
    step: str
    message: str

    def __str__(self):
        where = f"{self.resource.type} {self.resource.id}" \
            if self.resource is not None else "operation"
        return f"{where}: step {self.step}: {self.message}"

    def to_dict(self):
        return {"resource": contract.resource_label(self.resource)
                if self.resource is not None else None,
                "step": self.step, "message": self.message}


def message_of(exc, fallback=""):
    """The cloud's own words: for an API error, its message and HTTP code
    rather than the client's wrapper text with the URL."""
    if isinstance(exc, sdk_exceptions.HttpException) and exc.details:
        return f"{exc.details} (HTTP {exc.status_code})"
    text = str(exc) if exc is not None else fallback
    return text or type(exc).__name__
