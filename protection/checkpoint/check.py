"""Checks run before an operation touches anything: restore's integrity
check, delete's ownership and dependency checks.

Restore
    :func:`check_before_restore` proves the chain of hashes
    ``index.sha256 -> index.json -> manifest.json -> every object`` before a
    single cloud resource is created: the index against ``index.sha256``
    (done when the checkpoint is read), the manifest against the index's
    ``manifest_sha256``, and every object the manifest lists plus no
    object that it does not list. An object whose manifest entry records
    the bank's fingerprint (Swift's ETag) is checked by the size and
    fingerprint the bank lists, without reading it; the others (older
    checkpoints, the filesystem bank, empty objects) are read and their
    size and sha256 compared, streamed with constant memory. Whatever
    plugins then read at restore is checked against its sha256 as it is
    read (``metadata.json`` by ``Checkpoint.get_json`` before anything is
    created, image data by ``image_data`` as it is sent, the restore
    reverting on a mismatch), so it is exactly what protect wrote.
    ``checkpoint verify`` reads and hashes every object.

Delete
    :func:`check_owner` refuses a checkpoint whose owner (a protect or
    delete) is alive, even with ``force``; :func:`delete_precheck` asks
    each plugin's ``check_delete`` before anything is deleted (Cinder
    refuses to delete a backup that incremental backups depend on), so a
    delete that must be refused leaves the checkpoint ``available``.

What else a restore needs from the target cloud (a visible backup,
flavors, quotas ...) is asked of each plugin by the pre-flight
(:mod:`protection.restore.preview`, ``restore_preflight``).
"""

from protection.checkpoint import store as cp
from protection.checkpoint import owner as owners
from protection.checkpoint import verify as checkpoint_verify
from protection import exceptions
from protection.model.report import Failure

PRECHECK_STEP = "delete-precheck"


def integrity_problems(checkpoint):
    """Every reason not to trust the checkpoint's objects before a restore
    (``[]``: none); objects with a fingerprint are checked by it."""
    if checkpoint.damage is not None:
        return [checkpoint.damage]
    return checkpoint_verify.verify_objects(checkpoint, by_fingerprint=True)


def check_before_restore(checkpoint):
    """Raise CheckpointCorrupt naming each object that is not what protect
    wrote; nothing has been created yet when it does."""
    checkpoint.require_available()
    problems = integrity_problems(checkpoint)
    if problems:
        raise exceptions.CheckpointCorrupt(checkpoint.id, problems)


def check_owner(checkpoint, force=False):
    """Raise unless a delete may take the checkpoint over.

    Refused while the protect or delete that owns it is alive (whatever
    ``force`` says), and, for a ``protecting`` checkpoint whose owner died,
    without ``force``. A checkpoint whose index is unreadable has no owner
    to ask (its objects are removed as they are), unless it is of a format
    this stackvault does not read.
    """
    if not checkpoint.deletable:
        raise exceptions.CheckpointDamaged(
            checkpoint.id, f"{checkpoint.damage}; a stackvault that reads "
                           "this format must delete it")
    if not checkpoint.index_readable:
        return
    status = checkpoint.index.get("status")
    if status in (cp.PROTECTING, cp.DELETING) and checkpoint.owner_alive():
        raise exceptions.CheckpointBusy(
            f"checkpoint {checkpoint.id} is {status!r} by "
            f"{owners.describe(checkpoint.owner)}, which is still running; "
            "delete it once that finishes (--force does not override a "
            "live owner)")
    if status == cp.PROTECTING and not force:
        raise exceptions.CheckpointBusy(
            f"checkpoint {checkpoint.id} was left 'protecting' by "
            f"{owners.describe(checkpoint.owner)}, which is no longer "
            "running: delete it with --force")


def check_project(checkpoint, conn):
    """Raise CheckpointOfAnotherProject unless ``conn`` acts in the
    project the checkpoint records (format 2 on; one without a project,
    from the embedded CLI or before format 2, is anyone's who reads the
    bank).

    A delete asks the cloud for what protect stored there (a volume's
    backup) and counts what it does not find as already gone: from
    another project it finds nothing, and deleting the checkpoint would
    orphan the owner's backups."""
    owner = checkpoint.project_id
    if owner is None:
        return
    current = getattr(conn, "current_project_id", None)
    if current == owner:
        return
    acting = "an unknown project" if current is None \
        else f"project {current}"
    raise exceptions.CheckpointOfAnotherProject(
        f"checkpoint {checkpoint.id} belongs to project {owner}, and this "
        f"connection acts in {acting}: "
        "what the checkpoint stored in the cloud is invisible from here, "
        "so deleting it would orphan it; delete it with credentials of "
        f"project {owner}")


def delete_precheck(registry, checkpoint, conn, saved):
    """Ask every resource's plugin whether its delete would be refused.

    ``saved`` maps each resource key to its ``metadata.json``. Returns a
    list of Failure (``[]``: go ahead); nothing is deleted or written.
    """
    return _ask_plugins(registry, checkpoint.graph, saved, PRECHECK_STEP,
                        lambda plugin: plugin.check_delete, conn)


def _ask_plugins(registry, graph, saved, step, hook, conn):
    failures = []
    for resource in graph:
        check = hook(registry.get(resource.type))
        try:
            check(conn, resource, saved.get(resource.key, {}))
        except exceptions.StackvaultError as exc:
            failures.append(Failure(resource, step, str(exc)))
    return failures


def unreadable_delete_note(checkpoint):
    """What a delete of a checkpoint without a readable graph could not do."""
    return (f"checkpoint {checkpoint.id} was damaged ({checkpoint.damage}): "
            "its objects were removed from the bank, but without a readable "
            "graph its plugins' delete flows could not run; what protect "
            "stored in the cloud (such as volume backups named "
            f"stackvault-{checkpoint.id}) must be deleted by hand")
