"""The one table of operation kinds the service dispatches from.

Each kind's module (:mod:`.protect`, :mod:`.restore`, :mod:`.delete`,
:mod:`.verify`) starts its operations and defines its
:class:`~protection.service.running.OperationKind`: how a recorded
operation's inputs are rebuilt, how its run is finished, what giving it
up leaves right. Resume, abort and a conductor's run find the kind here
by the name recorded in the operation's row. A new kind is a module, a
row below and the facade's public method that starts it.
"""

from protection.service import delete
from protection.service import protect
from protection.service import restore
from protection.service import verify

KINDS = {kind.name: kind for kind in (protect.KIND, restore.KIND,
                                      delete.KIND, verify.KIND)}
