"""The protection service: the one facade the CLI (and the API) call to
discover resources and to run protect, restore, delete and verify.

:mod:`.facade` is that door (:class:`ProtectionService`); each operation
kind has its module (:mod:`.protect`, :mod:`.restore`, :mod:`.delete`,
:mod:`.verify`), what they share is :mod:`.running`, and :mod:`.kinds` is
the one table resume, abort and a conductor's give-up dispatch from.
:mod:`.stores` opens the tables on the persistence database (operations,
flows, plans) together.

Imports every framework package below it; nothing but the CLI, the
conductor's command and the API imports it. ``ProtectionService`` is
imported when first asked for, so that :mod:`.stores` alone (the CLI's
``checkpoint list``, from the catalog) does not load the whole service.
"""


def __getattr__(name):
    if name == "ProtectionService":
        from protection.service.facade import ProtectionService

        return ProtectionService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
