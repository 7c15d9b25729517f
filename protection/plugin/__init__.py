"""The one package a plugin imports (with :mod:`protection.exceptions`).

A plugin subclasses :class:`ProtectionPlugin` and codes against what this
package re-exports; everything else in ``protection`` is the framework's
and may change without notice (``tests/unit/test_structure.py`` keeps
``plugins/`` to this door).

The contract
    :class:`ProtectionPlugin` (:mod:`.base`), the operation, hook, policy
    and ordering names of :mod:`flows.contract`, :func:`before_parent`,
    :func:`after_parent`, :func:`restored_child`,
    :func:`fetch_or_not_found`; :class:`ResourceContext` (:mod:`.context`)
    and :class:`Resource`, what a task is handed.
The toolkit, as modules
    :mod:`.tasks` (crash-safe creating tasks, marks, the metadata task,
    and the proof a delete needs: :mod:`.ownership`),
    :mod:`.wait` (bounded waits), :mod:`.checks` (pre-flight answers),
    :mod:`.saved_metadata` (checking saved metadata against a schema),
    :mod:`.image_data` and :mod:`.image_tasks` (image data between Glance
    and the bank), :data:`heat_stacks` (reading a Heat stack's tree from
    the Heat datasource).

Layer: imports :mod:`protection.model`, :mod:`protection.transfer`,
:mod:`protection.bank` (the bank's key helpers), :mod:`protection.config`,
:mod:`protection.datasources` and :mod:`flows`; never
:mod:`protection.checkpoint`, :mod:`protection.operations` or anything
above them. :mod:`.registry` (loading plugins), :mod:`.inventory` (what
``stackvault plugin list`` shows) and :mod:`.journal` (recording what a
protect created) are the framework's side of the door. A plugin's tests
(not its modules) get ``make_service`` and ``FakeCompute`` from
:mod:`protection.testing`, which sits above the service it builds.
"""

from protection.datasources.heat import stacks as heat_stacks
from protection.model.resource import Resource
from protection.plugin import checks
from protection.plugin import image_data
from protection.plugin import image_tasks
from protection.plugin import saved_metadata
from protection.plugin import tasks
from protection.plugin import wait
from protection.plugin.base import AFTER_PARENT
from protection.plugin.base import BEFORE_PARENT
from protection.plugin.base import DELETE
from protection.plugin.base import HOOKS
from protection.plugin.base import INJECTED_ARGS
from protection.plugin.base import KEEP
from protection.plugin.base import OPERATIONS
from protection.plugin.base import POLICIES
from protection.plugin.base import PROTECT
from protection.plugin.base import ProtectionPlugin
from protection.plugin.base import RESTORE
from protection.plugin.base import ROLLBACK
from protection.plugin.base import VERIFY
from protection.plugin.base import after_parent
from protection.plugin.base import before_parent
from protection.plugin.base import fetch_or_not_found
from protection.plugin.base import restored_child
from protection.plugin.context import ResourceContext

__all__ = [
    "AFTER_PARENT", "BEFORE_PARENT", "DELETE", "HOOKS", "INJECTED_ARGS",
    "KEEP", "OPERATIONS", "POLICIES", "PROTECT", "RESTORE", "ROLLBACK",
    "VERIFY", "ProtectionPlugin", "Resource", "ResourceContext",
    "after_parent", "before_parent", "checks", "fetch_or_not_found",
    "heat_stacks", "image_data", "image_tasks", "restored_child",
    "saved_metadata", "tasks", "wait",
]
