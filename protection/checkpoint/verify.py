"""Checking a checkpoint's objects against its manifest.

:func:`verify_objects` is the one home of that check: ``checkpoint
verify`` reads and hashes every object (the deep check); restore's
pre-check (:mod:`protection.checkpoint.check`) lets the bank's listing
vouch for an object whose manifest entry records the bank's fingerprint
(:meth:`protection.bank.base.Bank.fingerprints`) and reads the others.
"""

from concurrent import futures

from protection.checkpoint import manifest
from protection.checkpoint import store as cp
from protection import exceptions

# Objects hashed at the same time by verify_objects.
VERIFY_WORKERS = 4


def _object_problem(checkpoint, relative, expected):
    """What is wrong with one object of the manifest (read and hashed),
    or None."""
    try:
        size, sha = checkpoint.bank.sha256(checkpoint.key(relative))
    except exceptions.ObjectNotFound:
        return f"{relative}: missing"
    except exceptions.InvalidBankKey:
        return f"{relative}: not a valid object name"
    return manifest.hash_problem(relative, expected, size, sha)


READ = object()     # _fingerprint_problem: the object must be read


def _fingerprint_problem(relative, expected, listed):
    """The listing's word on one object of the manifest: None (it is what
    protect wrote), a problem, or READ when the listing cannot tell.

    It cannot for an object whose entry records no fingerprint (written
    before fingerprints, by a bank without them, or adopted by a resumed
    protect), an empty object (a Swift DLO manifest lists as one whatever
    its segments hold), or one the listing does not show or vouch for (a
    listing that lags a write reads it: a missing object is then told by
    the read).
    """
    if "fingerprint" not in expected or expected["size"] == 0 or \
            listed is None or listed.fingerprint is None:
        return READ
    if listed.size != expected["size"] or \
            listed.fingerprint != expected["fingerprint"]:
        return (f"{relative}: not what protect wrote (expected "
                f"{expected['size']} bytes, {expected['fingerprint']}; the "
                f"bank lists {listed.size} bytes, {listed.fingerprint})")
    return None


def _by_listing(checkpoint, listed):
    """``({relative: verdict}, names present)`` from one listing of the
    checkpoint's fingerprints, or ``({}, None)`` when the bank keeps
    none; each verdict as :func:`_fingerprint_problem` gives it."""
    reported = checkpoint.bank.fingerprints(checkpoint.key(""))
    if reported is None:
        return {}, None
    start = len(checkpoint.key(""))
    reported = {key[start:]: entry for key, entry in reported.items()}
    verdicts = {relative: _fingerprint_problem(relative, expected,
                                               reported.get(relative))
                for relative, expected in listed.items()}
    return verdicts, sorted(reported)


def verify_objects(checkpoint, by_fingerprint=False):
    """Check every object of the checkpoint; return a list of problems.

    An empty list means every object in the manifest is present with the
    recorded size and sha256, the manifest matches the sha256 in the index,
    and no object is present that the manifest does not list.

    ``by_fingerprint`` (restore's pre-check): an object whose manifest
    entry records the bank's fingerprint is checked against the size and
    fingerprint the bank lists (one listing, no read); the others are
    read and hashed. Without it (``checkpoint verify``) every object is
    read and hashed. What a fingerprint lets through is still checked
    against its sha256 when restore reads it (``Checkpoint.get_json``,
    image data's ``_checked_object``).
    """
    problems = []
    bank = checkpoint.bank
    expected_manifest = checkpoint.index.get("manifest_sha256")
    if expected_manifest is None:
        problems.append("index records no manifest (checkpoint never "
                        "finished)")
    else:
        try:
            _, sha = bank.sha256(checkpoint.key(cp.MANIFEST))
            if sha != expected_manifest:
                problems.append("manifest.json: sha256 does not match the "
                                "index")
        except exceptions.ObjectNotFound:
            problems.append("manifest.json: missing")
    listed = checkpoint.manifest.objects()
    found, present = _by_listing(checkpoint, listed) if by_fingerprint \
        else ({}, None)
    to_read = [(relative, listed[relative]) for relative in sorted(listed)
               if found.get(relative, READ) is READ]
    # Objects are read and hashed VERIFY_WORKERS at a time (one chunk in
    # memory each): a bank read and a hash overlap, and several requests
    # to a remote bank are in flight; the problems keep the sorted order.
    with futures.ThreadPoolExecutor(
            VERIFY_WORKERS, thread_name_prefix="stackvault-verify") as pool:
        read = pool.map(lambda item: _object_problem(checkpoint, *item),
                        to_read)
        found.update(zip((relative for relative, _ in to_read), read))
    problems += [found[relative] for relative in sorted(found)
                 if found[relative] is not None]
    if present is None:
        present = checkpoint.list_objects()
    for relative in present:
        if relative not in listed and \
                relative not in (cp.INDEX, cp.INDEX_HASH, cp.MANIFEST):
            problems.append(f"{relative}: not in the manifest")
    return problems
