"""Fault injection for crash tests: inert unless ``STACKVAULT_CRASH_AT``.

``STACKVAULT_CRASH_AT=<atom pattern>:<point>`` ends the process with
``os._exit`` (no cleanup, no atexit, like ``kill -9``) at a real task
boundary of the first atom whose name matches the pattern (fnmatch, so
``*/CreateVolumeFromBackup`` works without knowing ids):

``before``      the atom is about to run (its RUNNING state is saved)
``after_call``  the atom's cloud call returned a new id, before anything
                recorded it (CreatingTask.created)
``after_save``  the atom finished and TaskFlow saved its result; for the
                whole flow (the pattern is the operation: ``protect``,
                ``restore`` ...), its SUCCESS is saved: every atom is
                done, nothing is committed yet
``unmarked``    a restore's final stage took the marks off what the atom
                created (protection.plugin.tasks.take_marks_off), before
                it goes on to the next object

Nothing here runs unless the variable is set: it is read once.
"""

import fnmatch
import os

BEFORE = "before"
AFTER_CALL = "after_call"
AFTER_SAVE = "after_save"
UNMARKED = "unmarked"
POINTS = (BEFORE, AFTER_CALL, AFTER_SAVE, UNMARKED)
EXIT_CODE = 137           # what a shell reports for a process killed by -9

_SPEC = os.environ.get("STACKVAULT_CRASH_AT", "")


def _parse(spec):
    pattern, sep, point = spec.rpartition(":")
    if not spec:
        return None
    if not sep or point not in POINTS or not pattern:
        raise ValueError(f"STACKVAULT_CRASH_AT={spec!r}: expected "
                         f"<atom pattern>:<{'|'.join(POINTS)}>")
    return pattern, point


_TARGET = _parse(_SPEC)


def armed():
    return _TARGET is not None


def maybe_crash(atom_name, point):
    """End the process here if the harness says so."""
    if _TARGET is None:
        return
    pattern, wanted = _TARGET
    if point == wanted and fnmatch.fnmatchcase(atom_name, pattern):
        os.write(2, f"stackvault: fault injected at {atom_name}:{point}\n"
                 .encode())
        os._exit(EXIT_CODE)
