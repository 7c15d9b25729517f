"""Deletes act only on what is proven stackvault's (issue #23).

The ids a delete or an undo acts on are read back from storage: a
resource's ``metadata.json`` and ``created.json`` in the bank, an
operation's journal and TaskFlow's saved results in the persistence
database. Whoever can write the bank or the database could plant there the
id of any volume, backup, snapshot or image of the project; a hash beside
them proves nothing against someone who can recompute it. What such a
writer cannot do is put stackvault's mark on a cloud object it did not
create. So before a delete of an id read back from storage the object is
fetched and must carry one of:

* the *step's mark*: ``stackvault_operation`` and ``stackvault_task`` in
  its metadata or image properties, or ``stackvault:<hash of operation
  and step>`` (:func:`protection.plugin.tasks.tag_for`) in its
  description, name or tags: what :class:`~protection.plugin.tasks.
  CreatingTask` stamps on what it creates;
  A restore's objects keep it until the restore's final stage, once
  everything is restored, takes it off (:func:`protection.plugin.tasks.
  take_marks_off`): until then every undo of a restore can prove them;
* the *checkpoint's mark* (objects a protect created): a name
  ``stackvault-<checkpoint id>`` or ``stackvault-tmp-<checkpoint id>...``,
  or ``stackvault checkpoint <checkpoint id>`` in its description. It
  stays on backups and temporary objects for their whole life, so a
  delete of an ``available`` checkpoint (whose operation is long gone)
  can still prove its backups.

An object that is gone (404) is "already gone". Anything else is not
deleted: :class:`NotOurs` says which object, and the operation reports it
(``left_behind``, ``warnings``) for the operator to check by hand.
"""

from openstack import exceptions as sdk_exceptions

from protection import exceptions

MARK_OPERATION = "stackvault_operation"
MARK_TASK = "stackvault_task"


class NotOurs(exceptions.StackvaultError):
    """An id read back from storage names an object without our mark."""

    def __init__(self, what, object_id, reason):
        super().__init__(
            f"{what} {object_id} was not deleted: {reason}; it may not be "
            "stackvault's (check it, and delete it by hand if it is)")
        self.what = what
        self.object_id = object_id


def _field(obj, name):
    value = getattr(obj, name, None)
    if value is None and isinstance(obj, dict):
        value = obj.get(name)
    return value


def _texts(obj):
    """The object's string fields a mark may stand in."""
    found = [_field(obj, "description"), _field(obj, "name")]
    tags = _field(obj, "tags")
    if isinstance(tags, (list, tuple, set)):
        found += list(tags)
    return [text for text in found if isinstance(text, str)]


def _key_values(obj):
    """The object's key/value fields a mark may stand in (metadata, and
    a Glance image's extra properties)."""
    found = []
    for name in ("metadata", "properties"):
        value = _field(obj, name)
        if isinstance(value, dict):
            found.append(value)
    return found


def carries_step_mark(obj, marks, tag):
    """Whether ``obj`` carries ``marks`` (``{stackvault_operation: ...,
    stackvault_task: ...}``) as key/values, or ``tag`` in a string
    field. A mark of an unknown operation (empty) proves nothing."""
    if not marks.get(MARK_OPERATION):
        return False
    if any(all(values.get(k) == v for k, v in marks.items())
           for values in _key_values(obj)):
        return True
    return carries_tag(obj, tag)


def carries_tag(obj, tag):
    """Whether ``obj`` carries ``tag`` (:func:`protection.plugin.tasks.
    tag_for`) in its description, name or tags."""
    return bool(tag) and any(tag in text for text in _texts(obj))


def carries_checkpoint_mark(obj, checkpoint_id):
    """Whether ``obj`` carries the mark of the protect of checkpoint
    ``checkpoint_id`` (its name or description, see the module doc)."""
    if not checkpoint_id:
        return False
    name = _field(obj, "name")
    description = _field(obj, "description")
    if isinstance(name, str) and (
            name == f"stackvault-{checkpoint_id}"
            or name.startswith(f"stackvault-tmp-{checkpoint_id}")):
        return True
    return isinstance(description, str) and \
        f"stackvault checkpoint {checkpoint_id}" in description


def proven(fetch, what, object_id, is_marked, reason):
    """The object ``fetch(object_id)`` returns when ``is_marked(obj)``;
    ``None`` when it is gone (404); raises :class:`NotOurs` (with
    ``reason``) otherwise."""
    try:
        found = fetch(object_id)
    except sdk_exceptions.NotFoundException:
        return None
    if found is None:
        return None
    if not is_marked(found):
        raise NotOurs(what, object_id, reason)
    return found
