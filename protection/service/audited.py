"""Recording a destructive action in the audit trail
(:mod:`protection.operations.audit`) with its outcome, whichever way it
ends: a result, an operation started in the background, a failure or a
refusal."""

import contextlib
import dataclasses
import typing

from protection import exceptions
from protection.operations import audit


@dataclasses.dataclass
class Note:
    """What the audited action says about itself while it runs."""

    actor: audit.Actor
    result: typing.Any = None
    checkpoint: typing.Optional[str] = None
    more: list = dataclasses.field(default_factory=list)

    def also(self, action, target, outcome, resources=None, detail=None):
        """A further record, by the same actor, written with this one
        (the undo a delete does of a protect's ``created.json``)."""
        self.more.append(audit.Record(
            self.actor, action, target, outcome, self.checkpoint,
            resources, detail))


def _detail(result):
    parts = [f"failures: {'; '.join(str(f) for f in result.failures)}"
             if result.failures else "",
             f"left: {result.left_behind}" if result.left_behind else "",
             "; ".join(result.warnings)]
    return " | ".join(p for p in parts if p) or None


def _settled(note):
    """(outcome, resources, detail) of an action that returned."""
    result = note.result
    if hasattr(result, "ok"):       # an OperationResult
        done = result.ok or result.status == "aborted"
        return (audit.SUCCEEDED if done else audit.FAILED,
                len(result.resources) or None, _detail(result))
    operation_id = getattr(result, "operation_id", None)
    if operation_id is None:        # done in the request (a signature)
        return audit.SUCCEEDED, None, None
    return audit.STARTED, None, f"operation {operation_id}"


@contextlib.contextmanager
def audited(service, action, target, actor, checkpoint=None):
    """Run the ``with`` body as ``action`` on ``target`` by ``actor``;
    set the yielded :class:`Note`'s ``result`` to what it returns."""
    note = Note(actor, checkpoint=checkpoint or target)
    resources = None
    try:
        yield note
    except exceptions.OperationFailed as exc:
        result = exc.result
        outcome, detail = audit.FAILED, str(exc)
        if result is not None:
            resources = len(result.resources) or None
            detail = _detail(result) or detail
        raise
    except exceptions.StackvaultError as exc:
        outcome, detail = audit.REFUSED, str(exc)
        raise
    except BaseException as exc:
        outcome, detail = audit.FAILED, f"{type(exc).__name__}: {exc}"
        raise
    else:
        outcome, resources, detail = _settled(note)
    finally:
        log = service.stores.audit
        for record in note.more:
            log.write(record)
        log.write(audit.Record(actor, action, target, outcome,
                               note.checkpoint, resources, detail))
