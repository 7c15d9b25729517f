"""Calls and time of one Heat datasource poll, for N stacks.

Against a mocked Heat (tests/heat_fakes.py) with a latency injected into
every call, for large N::

    python benchmarks/heat_poll.py mock --stacks 10 100 500 \\
        --latency 0.02 --workers 1 8 32

Against a real Heat (``OS_CLOUD``, e.g. the devcloud): creates N small
stacks (a random string, a value, and a nested stack with one more random
string) named ``svbench-*``, polls the whole project, then deletes them
(bounded wait), also when the run fails::

    eval "$(tools/devcloud env)"
    python benchmarks/heat_poll.py cloud --stacks 1 5 10 --workers 1 8

For each run it prints the stacks polled (S, every stack of the project),
the calls made, the calls the documented formula gives for what was read
(``4 + C + D + sum(4 + 2 R_s + min(E_s, K))``), the wall time and the
calls per second.

Measured (2 cores; K = 10): devcloud Heat 27, stacks of 4 resources with
nested: 10 stacks, 224 calls: 12.7 s with 1 worker, 5.4 s with 4, 6.6 s
with 8 (Heat's API is CPU-bound there). Mock, 20 ms a call, 2 resources +
1 nested per stack: 500 stacks, 11006 calls: 241 s with 1 worker, 34 s
with 8, 10.4 s with 32.
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

from protection.datasources.heat.datasource import HeatDatasource  # noqa: E402,E501
from tests.heat_fakes import FakeHeat  # noqa: E402

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


def formula(tables, k):
    total = 4 + len(tables["software_configs"]) + len(
        tables["software_deployments"])
    per_stack = {}
    for name, key in (("resources", 0), ("events", 1)):
        for row in tables[name]:
            counts = per_stack.setdefault(row["stack_id"], [0, 0])
            counts[key] += 1
    for stack in tables["stacks"]:
        resources, events = per_stack.get(stack["id"], (0, 0))
        total += 4 + 2 * resources + min(events, k)
    return total


def measure(conn, workers, k):
    source = HeatDatasource(conn, max_workers=workers, max_event_details=k)
    result = source.poll()
    return {"stacks": len(result.tables["stacks"]), "workers": workers,
            "calls": result.calls, "formula": formula(result.tables, k),
            "errors": len(result.errors), "seconds": result.elapsed}


def print_row(mode, row):
    rate = row["calls"] / row["seconds"] if row["seconds"] else 0.0
    print(f"{mode:5} {row['stacks']:6d} {row['workers']:7d} "
          f"{row['calls']:7d} {row['formula']:7d} {row['errors']:6d} "
          f"{row['seconds']:9.3f} {rate:9.1f}", flush=True)


def header():
    print(f"{'mode':5} {'stacks':>6} {'workers':>7} {'calls':>7} "
          f"{'formula':>7} {'errors':>6} {'seconds':>9} {'calls/s':>9}")


def run_mock(args):
    for n in args.stacks:
        heat = FakeHeat.sample(n_stacks=n, resources=args.resources,
                               latency=args.latency)
        proxy = mock.create_autospec(_proxy.Proxy, instance=True)
        proxy.get.side_effect = heat.get
        conn = mock.Mock(spec=["orchestration"], orchestration=proxy)
        for workers in args.workers:
            print_row("mock", measure(conn, workers, args.event_details))


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
        time.sleep(0.5)


def run_cloud(args):
    import openstack
    conn = openstack.connect()
    proxy = conn.orchestration
    created = []
    prefix = f"svbench-{secrets.token_hex(3)}"
    try:
        for n in args.stacks:
            start = time.monotonic()
            while len(created) < n:
                name = f"{prefix}-{len(created)}"
                body = {"stack_name": name, "template": TEMPLATE,
                        "files": {"nested.yaml": json.dumps(NESTED)}}
                stack_id = _ok(proxy.post("/stacks", json=body))["stack"][
                    "id"]
                created.append(f"/stacks/{name}/{stack_id}")
            _wait(proxy, created, "CREATE_COMPLETE", "CREATE_FAILED",
                  args.timeout)
            print(f"# {n} stacks ready in {time.monotonic() - start:.1f} s",
                  flush=True)
            for workers in args.workers:
                print_row("cloud", measure(conn, workers,
                                           args.event_details))
    finally:
        for path in created:
            proxy.delete(path)
        _wait(proxy, created, "DELETE_COMPLETE", "DELETE_FAILED",
              args.timeout)
        print(f"# deleted {len(created)} stacks", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("mock", "cloud"))
    parser.add_argument("--stacks", type=int, nargs="+", default=[10],
                        help="numbers of stacks to poll (grows in cloud "
                             "mode: stacks are added, not recreated)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--latency", type=float, default=0.02,
                        help="mock: seconds each call takes")
    parser.add_argument("--resources", type=int, default=2,
                        help="mock: resources per stack (plus a nested "
                             "stack with one)")
    parser.add_argument("--event-details", type=int, default=10,
                        help="max_event_details (K)")
    parser.add_argument("--timeout", type=float, default=300,
                        help="cloud: seconds to wait for creates/deletes")
    args = parser.parse_args(argv)
    header()
    if args.mode == "mock":
        run_mock(args)
    else:
        run_cloud(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
