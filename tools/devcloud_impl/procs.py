"""A tiny process supervisor: start, identify and stop our own processes.

Every service is started in its own session (so its process group id is its
pid), with stdout/stderr appended to ``<state>/logs/<name>.log``.  Its pid file
``<state>/run/<name>.pid`` holds ``<pid> <starttime>``, the start time being
field 22 of ``/proc/<pid>/stat``: a pid that was recycled by another process
does not match, so ``down`` can never signal a process it did not start.
Nothing is ever looked up or killed by name.
"""

import os
import signal
import subprocess
import time


class Proc:
    """What to run for one service."""

    def __init__(self, name, argv, env=None, port=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.env = env or {}
        self.port = port
        self.cwd = cwd

    def __repr__(self):
        return "Proc(%s)" % self.name


def _starttime(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: split after its ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie is as good as gone
        return None
    return fields[19]


def _pidfile(layout, name):
    return layout.run / (name + ".pid")


def read_pid(layout, name):
    """The pid of our running process ``name``, or None."""
    path = _pidfile(layout, name)
    try:
        pid_s, start = path.read_text().split()
        pid = int(pid_s)
    except (OSError, ValueError):
        return None
    if _starttime(pid) != start:
        return None
    return pid


def start(layout, proc, base_env):
    """Start ``proc`` unless it already runs; return its pid."""
    pid = read_pid(layout, proc.name)
    if pid:
        return pid
    env = dict(base_env)
    env.update(proc.env)
    log = open(layout.log(proc.name), "ab", buffering=0)
    log.write(
        (
            "\n==== devcloud start %s: %s\n"
            % (time.strftime("%Y-%m-%d %H:%M:%S"), " ".join(proc.argv))
        ).encode()
    )
    p = subprocess.Popen(
        proc.argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=proc.cwd or str(layout.root),
        start_new_session=True,
        close_fds=True,
    )
    log.close()
    start_t = None
    for _ in range(100):
        start_t = _starttime(p.pid)
        if start_t:
            break
        time.sleep(0.01)
    _pidfile(layout, proc.name).write_text("%d %s\n" % (p.pid, start_t))
    return p.pid


def alive(layout, name):
    return read_pid(layout, name) is not None


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_many(layout, names, timeout=30.0):
    """SIGTERM each service's process group, wait (bounded), then SIGKILL.

    Returns the names that had to be killed.
    """
    groups = {}
    for name in names:
        pid = read_pid(layout, name)
        if pid is None:
            _pidfile(layout, name).unlink(missing_ok=True)
            continue
        groups[name] = pid
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        _group_alive(g) for g in groups.values()
    ):
        time.sleep(0.2)
    killed = []
    for name, pgid in groups.items():
        if _group_alive(pgid):
            killed.append(name)
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    end = time.monotonic() + 10
    while time.monotonic() < end and any(
        _group_alive(g) for g in groups.values()
    ):
        time.sleep(0.1)
    for name in groups:
        _pidfile(layout, name).unlink(missing_ok=True)
    return killed


def rss_kib(pid):
    """Resident memory of a process group (the process and its group)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pid:
                continue
            with open("/proc/%s/status" % entry) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def run(argv, env, log_path, timeout=600, check=True):
    """Run a one-shot command, appending its output to ``log_path``."""
    with open(log_path, "ab") as log:
        log.write(("\n==== %s\n" % " ".join(map(str, argv))).encode())
        log.flush()
        try:
            rc = subprocess.run(
                [str(a) for a in argv],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                "%s timed out after %ss (log: %s)"
                % (argv[0], timeout, log_path)
            ) from None
    if check and rc != 0:
        raise RuntimeError(
            "%s failed with exit %d (log: %s)\n%s"
            % (" ".join(map(str, argv[:3])), rc, log_path, tail(log_path))
        )
    return rc


def tail(path, lines=15):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8000))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join("    " + ln for ln in text.splitlines()[-lines:])
