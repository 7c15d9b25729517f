"""Bank keys: ``/``-separated, relative, and unable to escape the bank."""

import re
import urllib.parse

from protection import exceptions

# Letters, digits and the punctuation that Heat-style types
# (``OS::Nova::Server``) and cloud ids need; ``%`` only as the escape of
# encode_part. No spaces, no backslashes, no control characters.
_PART = re.compile(r"[A-Za-z0-9._:@=+%\-]+")
# What encode_part keeps as it is: the key characters without '%'.
_KEPT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789._:@=+-")
MAX_KEY_LENGTH = 1024
# One part is one file or directory name in the filesystem bank: longer
# than NAME_MAX (255 on ext4, XFS, btrfs) is an OSError there, not a
# missing object.
MAX_PART_LENGTH = 255


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
        if len(part) > MAX_PART_LENGTH:
            raise exceptions.InvalidBankKey(
                key, f"a part is longer than {MAX_PART_LENGTH}")
        # fullmatch: '$' would let a trailing newline through.
        if not _PART.fullmatch(part):
            raise exceptions.InvalidBankKey(
                key,
                f"part {part!r} has characters outside [A-Za-z0-9._:@=+%-]")
    return key


def validate_prefix(prefix):
    """A listing prefix: empty, or a key optionally ending in ``/``."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") or "/")
    return prefix


def join_key(*parts):
    return validate_key("/".join(p.strip("/") for p in parts if p))


def encode_part(text):
    """One key part that names ``text`` (a cloud id), whatever it holds.

    Characters of ``[A-Za-z0-9._:@=+-]`` stay as they are, so an id made
    only of them is its own key part (the keys of checkpoints written
    before this encoding). Every UTF-8 byte of any other character,
    ``%`` included, becomes ``%XX`` (upper-case hex), and the parts ``.``
    and ``..`` become ``%2E`` and ``%2E%2E``: the result never holds
    ``/``, a control character or a path step. ``%`` was refused in keys
    before, so no earlier key can be read as an encoded one.
    """
    if not isinstance(text, str) or not text:
        raise exceptions.InvalidBankKey(
            text, "a key part must name a non-empty string")
    if text in (".", ".."):
        return "%2E" * len(text)
    return "".join(
        char if char in _KEPT
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        for char in text)


def decode_part(part):
    """The text that :func:`encode_part` turned into ``part``.

    Only what encode_part writes is read: a part that it would not have
    written for the text it decodes to (a lower-case or stray escape, an
    escaped key character, bytes that are not UTF-8) is refused, so each
    text has exactly one key part.
    """
    try:
        text = urllib.parse.unquote(part, errors="strict")
    except (TypeError, UnicodeDecodeError):
        text = None
    if not text or encode_part(text) != part:
        raise exceptions.InvalidBankKey(
            part, "not a key part that names an id (see encode_part)")
    return text
