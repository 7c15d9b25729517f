"""Bank keys: ``/``-separated, relative, and unable to escape the bank."""

import re

from protection import exceptions

# Letters, digits and the punctuation that Heat-style types
# (``OS::Nova::Server``) and cloud ids need. No spaces, no backslashes,
# no control characters.
_PART = re.compile(r"[A-Za-z0-9._:@=+\-]+")
MAX_KEY_LENGTH = 1024


def validate_key(key):
    """Return ``key`` if it is a safe bank key, else raise InvalidBankKey."""
    if not isinstance(key, str) or not key:
        raise exceptions.InvalidBankKey(key, "must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise exceptions.InvalidBankKey(key, f"longer than {MAX_KEY_LENGTH}")
    if key.startswith("/"):
        raise exceptions.InvalidBankKey(key, "absolute keys are not allowed")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise exceptions.InvalidBankKey(
                key, "empty, '.' and '..' path parts are not allowed")
        # fullmatch: '$' would let a trailing newline through.
        if not _PART.fullmatch(part):
            raise exceptions.InvalidBankKey(
                key,
                f"part {part!r} has characters outside [A-Za-z0-9._:@=+-]")
    return key


def validate_prefix(prefix):
    """A listing prefix: empty, or a key optionally ending in ``/``."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") or "/")
    return prefix


def join_key(*parts):
    return validate_key("/".join(p.strip("/") for p in parts if p))
