"""Banks: where checkpoints are kept (key/object stores, streaming I/O).

Backends are found through stevedore (namespace ``stackvault.banks``);
:func:`load` builds the one that ``[bank] backend`` names.
"""

from protection import config
from protection import exceptions
from protection import loader
from protection.bank.base import Bank, ObjectInfo  # noqa: F401
from protection.bank.keys import validate_key, join_key  # noqa: F401


def load(conf, **kwargs):
    """Instantiate the bank named by ``[bank] backend``.

    ``kwargs`` go to the bank's ``from_config`` (for example a
    ``connection`` for the Swift bank). An unknown name lists the installed
    backends; one whose import fails is reported with the import error.
    """
    name = conf.bank.backend
    try:
        bank_cls = loader.load_one(loader.BANKS, name)
    except loader.ExtensionNotFound as exc:
        raise exceptions.ConfigError(
            f"unknown bank backend {name!r} in [bank] backend (installed: "
            f"{', '.join(exc.installed) or 'none'})") from None
    config.register_component_opts(conf, bank_cls)
    return bank_cls.from_config(conf, **kwargs)
