"""Banks: where checkpoints are kept (key/object stores, streaming I/O)."""

from protection.bank.base import Bank, ObjectInfo  # noqa: F401
from protection.bank.keys import validate_key, join_key  # noqa: F401
