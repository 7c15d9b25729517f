"""Loading the configured bank (stevedore namespace ``stackvault.banks``)."""

import stevedore

from protection import config
from protection import exceptions


def load_bank(conf, **kwargs):
    """Instantiate the bank named by ``[bank] backend``.

    ``kwargs`` go to the bank's ``from_config`` (for example a
    ``connection`` for the Swift bank).
    """
    name = conf.bank.backend
    manager = stevedore.ExtensionManager(config.BANK_NAMESPACE,
                                         invoke_on_load=False)
    names = sorted(manager.names())
    if name not in names:
        raise exceptions.ConfigError(
            f"unknown bank backend {name!r} in [bank] backend "
            f"(installed: {', '.join(names) or 'none'})")
    bank_cls = manager[name].plugin
    config.register_component_opts(conf, bank_cls)
    return bank_cls.from_config(conf, **kwargs)
