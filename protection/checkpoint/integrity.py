"""Keyed integrity: the bank key, the purpose keys derived from it, and
the HMAC-SHA256 signatures of a checkpoint's index and manifest.

The sha256 chain (``index.sha256 -> index.json -> manifest.json -> every
object``) catches corruption and edits by hand, but whoever can write the
bank can recompute every hash. With ``[bank] key_file`` set, stackvault
also signs: the index's hash with the *index* key (in ``index.sha256``)
and the manifest with the *manifest* key (in the index, next to
``manifest_sha256``). Someone who can write the bank but does not hold the
key can no longer forge or strip a checkpoint unnoticed
(``doc/checkpoint-format.rst``, "Keyed integrity").

Purpose keys are derived from the one secret with HKDF-SHA256 (RFC 5869),
one ``info`` string per purpose, so that a key used for one purpose is
never used for another; ``data-encryption v1`` is reserved for encrypting
objects later with the same hierarchy.
"""

import hashlib
import hmac
import os
import stat

from protection import exceptions

INDEX_MAC = b"stackvault index-mac v1"
MANIFEST_MAC = b"stackvault manifest-mac v1"
# Reserved: the key objects will be encrypted with (not used yet).
DATA_ENCRYPTION = b"stackvault data-encryption v1"
KEY_ID = b"stackvault key-id v1"
PURPOSES = (INDEX_MAC, MANIFEST_MAC, DATA_ENCRYPTION, KEY_ID)

MIN_SECRET_BYTES = 32
DERIVED_BYTES = 32
# Characters of the key id recorded with each signature (64 bits: enough
# to tell keys apart, never enough to learn anything about the secret).
KEY_ID_CHARS = 16


def hkdf_sha256(secret, info, length=DERIVED_BYTES, salt=b""):
    """HKDF-SHA256 (RFC 5869): extract a pseudo-random key from
    ``secret``, expand it into ``length`` bytes bound to ``info``.
    Written with hmac (a dozen lines) so that listing checkpoints does not
    import a crypto library."""
    size = hashlib.sha256().digest_size
    prk = hmac.new(salt or bytes(size), secret, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // size) + 1):
        block = hmac.new(prk, block + info + bytes([counter]),
                         hashlib.sha256).digest()
        okm += block
    return okm[:length]


def derive(secret, purpose):
    """The 32-byte key for ``purpose`` (one of :data:`PURPOSES`)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}")
    return hkdf_sha256(secret, purpose)


class BankKey:
    """The purpose keys of one bank secret; the secret is not kept."""

    def __init__(self, secret):
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"a bank key needs at least {MIN_SECRET_BYTES} "
                             f"bytes, not {len(secret)}")
        self._keys = {p: derive(secret, p) for p in PURPOSES}
        self.key_id = self._keys[KEY_ID].hex()[:KEY_ID_CHARS]

    def sign(self, purpose, data):
        """HMAC-SHA256 of ``data`` (bytes or str) with ``purpose``'s key,
        as hex."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        return hmac.new(self._keys[purpose], data, hashlib.sha256).hexdigest()

    def verifies(self, purpose, data, signature):
        """Whether ``signature`` is ``data``'s (constant-time compare)."""
        if not isinstance(signature, str):
            return False
        return hmac.compare_digest(self.sign(purpose, data), signature)


def load_key_file(path):
    """The :class:`BankKey` in ``path``; ConfigError (one line) when the
    file is missing, readable by others than its owner, or too short.

    The file's bytes are the secret, as they are (make one with
    ``head -c 32 /dev/urandom``: doc/checkpoint-format.rst)."""
    where = f"[bank] key_file {path}"
    try:
        mode = os.stat(path).st_mode
        with open(path, "rb") as handle:
            secret = handle.read()
    except OSError as exc:
        raise exceptions.ConfigError(
            f"{where}: cannot read it ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise exceptions.ConfigError(
            f"{where}: group or others may access it (mode "
            f"{stat.S_IMODE(mode):04o}): chmod 600 it")
    try:
        return BankKey(secret)
    except ValueError as exc:
        raise exceptions.ConfigError(f"{where}: {exc}") from None


def key_from_config(conf):
    """The bank key ``[bank] key_file`` names, or ``None`` (unsigned)."""
    path = conf.bank.key_file
    return load_key_file(path) if path else None


# -- index.sha256's signatures ------------------------------------------------
def sign_hashes(key, hashes):
    """Add the key id and a signature of each hash ``index.sha256``
    names (``sha256``, ``previous``) to it: a MAC of the index's hash is
    as strong as a MAC of the index while sha256 resists collisions."""
    hashes["key_id"] = key.key_id
    hashes["mac"] = key.sign(INDEX_MAC, hashes["sha256"])
    if "previous" in hashes:
        hashes["previous_mac"] = key.sign(INDEX_MAC, hashes["previous"])
    return hashes


def index_signature_problem(key, hashes, sha256):
    """``None`` when ``index.sha256`` (``hashes``, already found to name
    ``sha256``) carries a valid signature of it by ``key``; else why not."""
    if "mac" not in hashes:
        return "index.sha256: not signed"
    if hashes.get("key_id") != key.key_id:
        return (f"index.sha256: signed with another key (key id "
                f"{hashes.get('key_id')!r}; [bank] key_file is "
                f"{key.key_id!r})")
    field = "mac" if hashes.get("sha256") == sha256 else "previous_mac"
    if not key.verifies(INDEX_MAC, sha256, hashes.get(field)):
        return "index.sha256: signature does not match the index"
    return None


def manifest_signature_problem(key, index, raw_manifest):
    """``None`` when the index's ``manifest_mac`` signs the manifest's
    bytes with ``key``; else why not."""
    if not key.verifies(MANIFEST_MAC, raw_manifest,
                        index.get("manifest_mac")):
        return "manifest.json: signature does not match the index"
    return None
