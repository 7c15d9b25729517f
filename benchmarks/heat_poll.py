"""Calls, time and Heat's CPU for a Heat datasource's first and
steady-state polls, for N stacks.

Against a real Heat (``OS_CLOUD``, e.g. the devcloud): creates N small
stacks (a random string, a value, and a nested stack with one more random
string) named ``svbench-*``, then polls the whole project with one
datasource object: a first poll, then ``--steady`` more polls (nothing of
ours changes in between); deletes the stacks at the end (bounded wait),
also when the run fails::

    eval "$(tools/devcloud env)"
    python benchmarks/heat_poll.py cloud --stacks 50

Against a mocked Heat (tools/cloudkit/fake_heat.py) with a latency
injected into every call::

    python benchmarks/heat_poll.py mock --stacks 50 --latency 0.02

For each poll it prints the stacks polled (S, every stack of the project),
the calls made, the calls the documented formula predicts for what the
poll read (first: ``4 + C + sum(4 + R_s + min(E_s, K))``; steady:
``4 + C_new + sum over changed stacks of (4 + R_s + min(En_s, K))``),
what the
formula of the datasource before issue 14 gives for the same stacks
(``4 + C + D + sum(4 + 2 R_s + min(E_s, K))``), the wall time, and, in
cloud mode, the CPU seconds (user + system) that heat-api and heat-engine
(their processes and children, from ``/proc/PID/stat``) spent during the
poll. The pids come from ``$DEVCLOUD_HOME/run/heat-{api,engine}.pid`` or,
without them, from the processes' command lines; Heat's work for other
users of the cloud during the poll counts too. Figures measured on
devcloud are in doc/datasources/library.rst.
"""

import argparse
import json
import os
import secrets
import sys
import time

import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from openstack.orchestration.v1 import _proxy  # noqa: E402

from protection.datasources.heat.datasource import HeatDatasource  # noqa
from tools.cloudkit.fake_heat import FakeHeat  # noqa: E402

NESTED = {"heat_template_version": "2018-08-31",
          "resources": {"inner": {"type": "OS::Heat::RandomString"}}}
TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "resources": {
        "rnd": {"type": "OS::Heat::RandomString"},
        "val": {"type": "OS::Heat::Value",
                "properties": {"value": {"get_attr": ["rnd", "value"]}}},
        "child": {"type": "nested.yaml"},
    },
}
SERVICES = ("heat-api", "heat-engine")


# -- the formulas ----------------------------------------------------------

def _per_stack(tables, name):
    counts = {}
    for row in tables[name]:
        counts[row["stack_id"]] = counts.get(row["stack_id"], 0) + 1
    return counts


def first_formula(tables, k):
    resources = _per_stack(tables, "resources")
    events = _per_stack(tables, "events")
    return 4 + len(tables["software_configs"]) + sum(
        4 + resources.get(s["id"], 0) + min(events.get(s["id"], 0), k)
        for s in tables["stacks"])


def steady_formula(before, after, k):
    """What the datasource predicts for ``after``, polled after
    ``before`` by the same object."""
    old_marks = {s["id"]: (s["stack_name"], s["updated_time"],
                           s["stack_status"]) for s in before["stacks"]}
    old_events = {e["id"] for e in before["events"]}
    old_configs = {c["id"] for c in before["software_configs"]}
    total = 4 + sum(1 for c in after["software_configs"]
                    if c["id"] not in old_configs)
    for stack in after["stacks"]:
        mark = (stack["stack_name"], stack["updated_time"],
                stack["stack_status"])
        if old_marks.get(stack["id"]) == mark and \
                not mark[2].endswith("_IN_PROGRESS"):
            continue
        new = sum(1 for e in after["events"] if e["stack_id"] == stack["id"]
                  and e["id"] not in old_events)
        resources = sum(1 for r in after["resources"]
                        if r["stack_id"] == stack["id"])
        total += 4 + resources + min(new, k)
    return total


def old_formula(tables, k):
    resources = _per_stack(tables, "resources")
    events = _per_stack(tables, "events")
    return 4 + len(tables["software_configs"]) + len(
        tables["software_deployments"]) + sum(
        4 + 2 * resources.get(s["id"], 0) + min(events.get(s["id"], 0), k)
        for s in tables["stacks"])


# -- Heat's CPU ------------------------------------------------------------

def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])  # ppid, ticks


def _all_processes():
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[int(entry)] = _stat(entry)
            except (OSError, ValueError):
                pass
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def service_roots(service):
    """The pids of a service's main processes: devcloud's pid file, or
    the processes whose command line names the service."""
    home = os.environ.get("DEVCLOUD_HOME")
    if home:
        try:
            with open(os.path.join(home, "run", f"{service}.pid")) as f:
                return {int(f.read().split()[0])}
        except (OSError, ValueError, IndexError):
            pass
    marks = {"heat-api": ("heat-api", "[heat]"),
             "heat-engine": ("heat-engine",)}[service]
    return {pid for pid in _all_processes()
            if any(m in _cmdline(pid) for m in marks)}


def cpu_seconds(roots):
    """User + system CPU seconds of ``roots`` and their descendants."""
    procs = _all_processes()
    members, grew = set(roots) & set(procs), True
    while grew:
        more = {pid for pid, (ppid, _t) in procs.items()
                if ppid in members and pid not in members}
        members |= more
        grew = bool(more)
    return sum(procs[pid][1] for pid in members) / os.sysconf("SC_CLK_TCK")


# -- measuring -------------------------------------------------------------

def measure(source, k, roots, before=None):
    cpu = {s: cpu_seconds(r) for s, r in roots.items()}
    result = source.poll()
    cpu = {s: cpu_seconds(r) - cpu[s] for s, r in roots.items()}
    tables = result.tables
    predicted = first_formula(tables, k) if result.full else \
        steady_formula(before, tables, k)
    return result, {
        "poll": "first" if before is None else
        ("full" if result.full else "steady"),
        "stacks": len(tables["stacks"]), "calls": result.calls,
        "formula": predicted, "old": old_formula(tables, k),
        "errors": len(result.errors), "seconds": result.elapsed,
        "api": cpu.get("heat-api"), "engine": cpu.get("heat-engine")}


def header():
    print(f"{'poll':6} {'stacks':>6} {'calls':>6} {'formula':>7} "
          f"{'before14':>8} {'errors':>6} {'seconds':>8} "
          f"{'api-cpu-s':>9} {'engine-cpu-s':>12}")


def print_row(row):
    def cpu(value):
        return "-" if value is None else f"{value:.2f}"
    print(f"{row['poll']:6} {row['stacks']:6d} {row['calls']:6d} "
          f"{row['formula']:7d} {row['old']:8d} {row['errors']:6d} "
          f"{row['seconds']:8.2f} {cpu(row['api']):>9} "
          f"{cpu(row['engine']):>12}", flush=True)


def run_polls(conn, args, roots):
    source = HeatDatasource(conn, max_workers=args.workers,
                            max_event_details=args.event_details)
    header()
    before = None
    for _ in range(1 + args.steady):
        result, row = measure(source, args.event_details, roots, before)
        print_row(row)
        print(f"#   {dict(sorted(result.calls_by_kind.items()))}",
              flush=True)
        before = result.tables


def run_mock(args):
    heat = FakeHeat.sample(n_stacks=args.stacks, resources=args.resources,
                           latency=args.latency)
    proxy = mock.create_autospec(_proxy.Proxy, instance=True)
    proxy.get.side_effect = heat.get
    conn = mock.Mock(spec=["orchestration"], orchestration=proxy)
    run_polls(conn, args, {})


def _ok(response):
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code}: "
                           f"{response.text[:300]}")
    return response.json() if response.content else None


def _wait(proxy, paths, done, failed, timeout):
    deadline = time.monotonic() + timeout
    left = set(paths)
    while left:
        for path in sorted(left):
            response = proxy.get(path)
            if response.status_code == 404:
                status = "DELETE_COMPLETE"
            else:
                status = _ok(response)["stack"]["stack_status"]
            if status == failed:
                raise RuntimeError(f"{path}: {status}")
            if status == done:
                left.discard(path)
        if left and time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {len(left)} stacks "
                               f"to be {done}")
        time.sleep(1.0)


def run_cloud(args):
    import openstack
    conn = openstack.connect()
    proxy = conn.orchestration
    roots = {s: service_roots(s) for s in SERVICES}
    print(f"# heat processes: {roots}", flush=True)
    created = []
    prefix = f"svbench-{secrets.token_hex(3)}"
    try:
        start = time.monotonic()
        for n in range(args.stacks):
            body = {"stack_name": f"{prefix}-{n}", "template": TEMPLATE,
                    "files": {"nested.yaml": json.dumps(NESTED)}}
            stack_id = _ok(proxy.post("/stacks", json=body))["stack"]["id"]
            created.append(f"/stacks/{prefix}-{n}/{stack_id}")
        _wait(proxy, created, "CREATE_COMPLETE", "CREATE_FAILED",
              args.timeout)
        print(f"# {args.stacks} stacks ready in "
              f"{time.monotonic() - start:.1f} s", flush=True)
        run_polls(conn, args, roots)
    finally:
        for path in created:
            proxy.delete(path)
        _wait(proxy, created, "DELETE_COMPLETE", "DELETE_FAILED",
              args.timeout)
        print(f"# deleted {len(created)} stacks", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("mock", "cloud"))
    parser.add_argument("--stacks", type=int, default=50,
                        help="how many stacks to create (default 50)")
    parser.add_argument("--steady", type=int, default=2,
                        help="polls after the first (default 2)")
    parser.add_argument("--workers", type=int, default=4,
                        help="max_workers (default 4)")
    parser.add_argument("--latency", type=float, default=0.02,
                        help="mock: seconds each call takes")
    parser.add_argument("--resources", type=int, default=2,
                        help="mock: resources per stack (plus a nested "
                             "stack with one)")
    parser.add_argument("--event-details", type=int, default=10,
                        help="max_event_details (K)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="cloud: seconds to wait for creates/deletes")
    args = parser.parse_args(argv)
    if args.mode == "mock":
        run_mock(args)
    else:
        run_cloud(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
