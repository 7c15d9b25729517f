"""Running stackvault's command line, the interface the tests exercise."""

import json
import logging
import subprocess
import time

LOG = logging.getLogger(__name__)


class CommandFailed(AssertionError):
    """A stackvault command exited with an unexpected code."""


class Stackvault:
    """``stackvault --config-file CONF ARGS... -f json`` in a given
    environment, bounded by ``timeout`` seconds."""

    def __init__(self, command, env, config_file, timeout):
        self.command = command
        self.env = env
        self.config_file = config_file
        self.timeout = timeout

    def run(self, *args):
        """Run one command; return (exit code, stdout, stderr)."""
        argv = [self.command, "--config-file", self.config_file, *args]
        started = time.monotonic()
        try:
            done = subprocess.run(argv, env=self.env, capture_output=True,
                                  text=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"{' '.join(args)}: no answer after "
                                f"{self.timeout} s") from None
        except FileNotFoundError:
            raise CommandFailed(f"stackvault command {self.command!r} not "
                                f"found ([stackvault] cli)") from None
        LOG.info("stackvault %s: exit %d in %.1f s", " ".join(args),
                 done.returncode, time.monotonic() - started)
        return done.returncode, done.stdout, done.stderr

    def report(self, *args):
        """Run ``ARGS -f json``; return (exit code, the parsed output or
        None when there was none, stderr). For operations that print
        what they did even when they fail (protect, restore)."""
        code, out, err = self.run(*args, "-f", "json")
        try:
            data = json.loads(out) if out.strip() else None
        except ValueError:
            data = None
        return code, data, err

    def json(self, *args, expect=0):
        """Run ``ARGS -f json``; check the exit code; return the output."""
        code, data, err = self.report(*args)
        if code != expect or data is None:
            raise CommandFailed(
                f"stackvault {' '.join(args)} exited {code} (expected "
                f"{expect}){'' if data is not None else ', no JSON'}: "
                f"{err.strip()[-2000:]}")
        return data
