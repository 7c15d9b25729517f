"""Errors that stackvault raises.

Every :class:`StackvaultError` carries a message written for the person who
ran the command: the CLI prints it on one line, without a traceback.
"""

from flows import contract


class StackvaultError(Exception):
    """Base class of every error meant to reach a user as one line."""


class OperationError(StackvaultError):
    """An operation could not be done, through no mistake of the user's
    (a damaged bank, an I/O error, a refused commit): the CLI exits 1."""


class JobNotPosted(OperationError):
    """The jobboard refused an operation's job (it went down after it was
    reached): nothing runs, nothing is left queued; worth trying again
    later (the API answers 503 with Retry-After)."""


class ConfigError(StackvaultError):
    """The configuration is unusable (bad value, missing cloud, ...)."""


class PluginNotFound(StackvaultError):
    def __init__(self, resource_type, known=()):
        known_txt = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"no protection plugin for resource type {resource_type!r} "
            f"(plugins loaded: {known_txt})")
        self.resource_type = resource_type


class PluginError(StackvaultError, contract.ContractError):
    """A plugin broke the plugin contract (a bug in the plugin)."""


class InvalidParameter(StackvaultError):
    """A protect or restore parameter is invalid for a resource."""

    def __init__(self, target, key, reason):
        where = f" {key!r}" if key else ""
        super().__init__(f"invalid parameter{where} for {target}: {reason}")
        self.target = target
        self.key = key
        self.reason = reason


class CycleError(StackvaultError):
    """The resources depend on each other in a loop."""

    def __init__(self, cycle):
        path = " -> ".join(f"{r.type} {r.id}" for r in cycle)
        super().__init__(f"dependency cycle between resources: {path}")
        self.cycle = list(cycle)


class ResourceNotFound(StackvaultError):
    pass


class BankError(OperationError):
    pass


class InvalidBankKey(BankError):
    def __init__(self, key, reason):
        super().__init__(f"invalid bank key {key!r}: {reason}")
        self.key = key


class ObjectNotFound(BankError):
    def __init__(self, key):
        super().__init__(f"bank object {key!r} does not exist")
        self.key = key


class CheckpointNotFound(StackvaultError):
    def __init__(self, checkpoint_id):
        super().__init__(f"checkpoint {checkpoint_id} does not exist")
        self.checkpoint_id = checkpoint_id


class CheckpointNotAvailable(StackvaultError):
    def __init__(self, checkpoint_id, status):
        super().__init__(
            f"checkpoint {checkpoint_id} is {status!r}, not 'available'")
        self.checkpoint_id = checkpoint_id
        self.status = status


class CheckpointBusy(StackvaultError):
    """A live process still protects or deletes the checkpoint."""


class CheckpointLeased(CheckpointBusy):
    """A live restore or verify reads the checkpoint (it holds a read
    lease, protection.operations.leases): it may not be removed."""


class CheckpointOfAnotherProject(StackvaultError):
    """A delete through a connection to another project than the
    checkpoint's: what it stored in the cloud is invisible from there."""


class CheckpointDamaged(OperationError):
    """A checkpoint's index or manifest is unreadable, malformed or does
    not match its hash; ``reason`` names the object."""

    def __init__(self, checkpoint_id, reason):
        super().__init__(f"checkpoint {checkpoint_id} is damaged: {reason}")
        self.checkpoint_id = checkpoint_id
        self.reason = reason


class CheckpointCorrupt(OperationError):
    """An object of the checkpoint is not what protect wrote (restore
    refused before creating anything); ``problems`` names each object."""

    def __init__(self, checkpoint_id, problems):
        more = len(problems) - 1
        tail = f" (and {more} more problems)" if more else ""
        super().__init__(
            f"checkpoint {checkpoint_id} failed its integrity check, "
            f"nothing was restored: {problems[0]}{tail}")
        self.checkpoint_id = checkpoint_id
        self.problems = list(problems)


class CommitRefused(OperationError):
    """A protect found its checkpoint changed or incomplete at commit."""


class WaitTimeout(StackvaultError):
    """A bounded wait for a cloud resource ran out of time."""


class ResourceFailed(StackvaultError):
    """A cloud resource reached an error state while we waited for it."""


class OperationFailed(StackvaultError):
    """An operation failed; ``failures`` says which resource, step and why.

    ``failures`` is a list of :class:`protection.model.report.Failure`.
    """

    def __init__(self, operation, failures, result=None):
        self.operation = operation
        self.failures = list(failures)
        self.result = result
        if self.failures:
            first = self.failures[0]
            more = len(self.failures) - 1
            tail = f" (and {more} more)" if more else ""
            msg = f"{operation} failed: {first}{tail}"
        else:
            msg = f"{operation} failed"
        super().__init__(msg)


class PreflightFailed(OperationError):
    """A restore's pre-flight found a check that fails; nothing was
    created. ``report``: the :class:`protection.restore.preflight.Report`."""

    def __init__(self, report):
        failing = "; ".join(str(c) for c in report.failing)
        super().__init__(
            f"pre-flight failed, nothing was created: {failing} (see "
            "'restore --dry-run'; --skip-preflight restores anyway)")
        self.report = report
