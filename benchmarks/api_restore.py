"""The demo application's restore through the protection API, beside the
CLI's, beside the floor and beside the cloud's own critical path (issue
#22, item 7).

    eval "$(tools/devcloud env)"; tools/devcloud api
    python benchmarks/api_restore.py [--repeat 3] [--data-gib 0] \
        [--own-api [EXE]] [--baseline-api EXE] [--sides api,cli,...]

Builds the demo-sized application (tools/cloudkit/demo_app.py) and
protects it twice: through the API (the member's token) and with the CLI
(its own process, bank and database). Then, for ``--repeat`` rounds, in
turn (the order reversed every other round):

API       ``POST /v1/restores`` of the API's checkpoint, until ``GET
          /v1/operations/{id}`` says it ended (polled every 0.2 s); the
          time to the 202 (the pre-flight runs before it) is shown;
CLI       ``stackvault restore`` of the CLI's checkpoint, start to exit;
floor     Cinder's restores of the CLI checkpoint's two volume backups,
          started at once, until both volumes are ``available`` (the
          issue's floor: the rest of the restore, network, image,
          server, runs beside them);
critical  the cloud's own critical path, the second anchor: the same
          raw restores, a raw server boot (no network, the application's
          image) and a new port, all started at once; the port attached
          once the server is ACTIVE, each volume once it and the server
          are ready (requests in the original order, as stackvault asks
          for them), until both volumes are ``in-use`` and the port is
          bound; polled every 0.1 s, timed to the moment the last of it
          was seen. What any restore of this application with the
          mission's shape ("creates the server, then attaches its volumes
          and ports") waits for: the attaches after the last volume are
          the cloud's work, not stackvault's. Each step's time is printed.

The report: the medians, the API's and the CLI's time beyond each anchor.
Goal: the API's time beyond the floor at most 1.5 s.

``--own-api`` runs a ``stackvault-api`` of the benchmark's own (EXE, or
this checkout's; devcloud's API's ``[keystone_authtoken]``, its own port,
bank and database) instead of the one devcloud deploys: a branch's code
is then what is measured. ``--baseline-api EXE`` adds another one (the
code before a change) whose restores alternate with the others in the
same rounds; the per-round differences are printed (on a shared machine
only a paired comparison means much). ``--sides`` runs a subset.

Each restored copy is deleted before the next run, and everything (the
application, the checkpoints, the APIs started) at the end.
"""

import contextlib
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from benchmarks import benchkit  # noqa: E402
from tools.cloudkit import api_http  # noqa: E402
from tools.cloudkit import demo_app  # noqa: E402
from tools.cloudkit import teardown  # noqa: E402

GOAL = 1.5
SIDES = ("API restore", "CLI restore", "floor: raw Cinder restores",
         "critical path: raw cloud work")
SHORT = ("api", "cli", "floor", "critical")
BASELINE = "API restore, baseline"


def api_restore(api, conn, checkpoint_id):
    started = time.perf_counter()
    status, body = api_http.call(api, "POST", "/v1/restores", conn,
                                 {"checkpoint_id": checkpoint_id})
    if status != 202:
        raise RuntimeError(f"restore refused ({status}): {body}")
    answered = time.perf_counter() - started
    done = api_http.wait_operation(api, conn, body["operation_id"],
                                   interval=0.2)
    seconds = time.perf_counter() - started
    teardown.delete_restored(conn, done["restored"] or {})
    if done["status"] != "succeeded":
        raise RuntimeError(f"API restore ended {done['status']}: "
                           f"{done['result']}")
    # the pre-flight runs before the 202
    return seconds, f"(202 after {answered:.2f} s)"


def cli_restore(cli, conn, checkpoint_id):
    seconds, result = cli.run("restore", checkpoint_id)
    teardown.delete_restored(conn, result.get("restored") or {})
    if result.get("status") != "success":
        raise RuntimeError(f"CLI restore failed: {result.get('failures')}")
    return seconds


def floor_restore(conn, backup_ids, tag):
    """Seconds until every backup is restored into a new volume."""
    started = time.perf_counter()
    # restore_backup returns the backup, its volume_id now the new one's
    volumes = [conn.block_storage.restore_backup(
        backup_id, name=f"bench-floor-{tag}").volume_id
        for backup_id in backup_ids]
    try:
        pending = set(volumes)
        while pending:
            for volume_id in list(pending):
                status = conn.block_storage.get_volume(volume_id).status
                if status == "available":
                    pending.discard(volume_id)
                elif "error" in status:
                    raise RuntimeError(f"volume {volume_id}: {status}")
            time.sleep(0.2)
        return time.perf_counter() - started
    finally:
        for volume_id in volumes:
            teardown.delete_volume(conn, volume_id)


def _attach_volume(conn, server_id, volume_id):
    conn.compute.create_volume_attachment(server_id, volume=volume_id)


class _Pace:
    """What the critical path run saw, in seconds from its start."""

    def __init__(self):
        self.started = time.perf_counter()
        self.seen = {}

    def mark(self, what):
        self.seen.setdefault(what, time.perf_counter() - self.started)

    def __str__(self):
        return ", ".join(f"{what} {at:.2f}" for what, at in
                         sorted(self.seen.items(), key=lambda i: i[1]))


def critical_path(conn, app, backup_ids, flavor_id, tag, interval=0.1):
    """Seconds of the cloud's own work on the restore's critical path
    (the second anchor), and what it saw when.

    The restore's shape with none of stackvault: Cinder's restores of the
    backups, a server booted with no network from the application's image
    (stackvault boots from the root disk it uploads meanwhile) and a new
    port on the application's network, all started at once; the port is
    attached as soon as the server is ACTIVE, each volume as soon as it
    and the server are ready (requests in the original order, as
    stackvault asks for them); ends when every volume is ``in-use`` and
    the port is bound on the server. Polled every ``interval`` seconds
    (three or four GETs each).
    """
    pace = _Pace()
    volumes = [conn.block_storage.restore_backup(
        backup_id, name=f"bench-critical-{tag}").volume_id
        for backup_id in backup_ids]
    server = port = None
    try:
        server = conn.compute.create_server(
            name=f"bench-critical-{tag}", image_id=app["image"].id,
            flavor_id=flavor_id, networks="none").id
        port = conn.network.create_port(
            network_id=app["network"].id, name=f"bench-critical-{tag}",
            security_group_ids=[app["group"].id]).id
        pace.mark("requested")
        active = port_asked = False
        asked, in_use = [], set()
        while not (len(in_use) == len(volumes) and "port bound" in
                   pace.seen):
            if not active:
                status = conn.compute.get_server(server).status
                if status == "ERROR":
                    raise RuntimeError(f"server {server}: ERROR")
                active = status == "ACTIVE"
                if active:
                    pace.mark("server ACTIVE")
            if active and not port_asked:
                conn.compute.create_server_interface(server, port_id=port)
                port_asked = True
                pace.mark("port attach returned")
            for volume_id in volumes:
                if volume_id in in_use:
                    continue
                status = conn.block_storage.get_volume(volume_id).status
                if "error" in status:
                    raise RuntimeError(f"volume {volume_id}: {status}")
                n = volumes.index(volume_id) + 1
                if status == "available" and volume_id not in asked:
                    pace.mark(f"volume {n} available")
                    if active and len(asked) == n - 1:
                        _attach_volume(conn, server, volume_id)
                        asked.append(volume_id)
                        pace.mark(f"volume {n} attach returned")
                elif status == "in-use":
                    in_use.add(volume_id)
                    pace.mark(f"volume {n} in-use")
            if port_asked and "port bound" not in pace.seen:
                found = conn.network.get_port(port)
                if found.device_id == server and (
                        found.status == "ACTIVE" or
                        (found.binding_vif_type or "unbound") != "unbound"):
                    pace.mark("port bound")
            time.sleep(interval)
        # the moment the last of it was seen (not the sleep after it)
        return max(pace.seen.values()), pace
    finally:
        if server is not None:
            teardown.delete_server(conn, server)
        for volume_id in volumes:
            teardown.delete_volume(conn, volume_id)
        if port is not None:
            teardown.delete_port(conn, port)


def protect_both(cleanup, api, conn, cli, app, tag):
    """The application protected through the API and with the CLI:
    ``(API checkpoint id, CLI checkpoint id)``."""
    root = {"type": demo_app.SERVER, "id": app["server"].id}
    api_checkpoint = protect_on(cleanup, api, conn, app, f"bench-api-{tag}")
    _seconds, protected = cli.run("protect", f"{root['type']}={root['id']}",
                                  "--name", f"bench-cli-{tag}")
    cli_checkpoint = protected["checkpoint_id"]
    cleanup.callback(cli.run, "checkpoint", "delete", cli_checkpoint)
    return api_checkpoint, cli_checkpoint


def report(seconds):
    medians = {side: statistics.median(found)
               for side, found in seconds.items() if found}
    if any(side not in medians for side in SIDES):
        for side, median in medians.items():
            benchkit.say(f"  median {side:<30} {median:7.2f} s")
        return
    for side in SIDES:
        benchkit.say(f"  median {side:<30} {medians[side]:7.2f} s "
                     f"({len(seconds[side])} runs)")
    beyond = medians[SIDES[0]] - medians[SIDES[2]]
    benchkit.say(f"API beyond the floor: {beyond:.2f} s (goal <= {GOAL} s: "
                 f"{'met' if beyond <= GOAL else 'MISSED'}); CLI beyond the "
                 f"floor: {medians[SIDES[1]] - medians[SIDES[2]]:.2f} s")
    path = medians[SIDES[3]]
    benchkit.say(f"API beyond the critical path: "
                 f"{medians[SIDES[0]] - path:.2f} s; CLI beyond the critical "
                 f"path: {medians[SIDES[1]] - path:.2f} s; the critical path "
                 f"beyond the floor: {path - medians[SIDES[2]]:.2f} s; "
                 f"{benchkit.load()}")


def main(argv=None):
    found = benchkit.parser(__doc__, "10.250.9.0/24")
    found.add_argument(
        "--own-api", nargs="?", const="", default=None, metavar="EXE",
        help="run an API of the benchmark's own (EXE, default this "
             "checkout's stackvault-api) instead of devcloud's")
    found.add_argument("--api-log", metavar="PATH",
                       help="with --own-api: its log here (kept)")
    found.add_argument(
        "--baseline-api", metavar="EXE",
        help="also run this stackvault-api (another checkout's: the code "
             "before a change) in a process of its own, its restores in "
             "the same rounds as the others (a paired comparison on a "
             "shared machine)")
    found.add_argument("--sides", default=",".join(SHORT),
                       help="which to run, of " + ",".join(SHORT) +
                            " (a trace needs only one)")
    args = found.parse_args(argv)
    conn, tag, workdir, cli = benchkit.start(args, "api-restore")
    with contextlib.ExitStack() as cleanup:
        if args.own_api is not None:
            own = benchkit.OwnApi(workdir, args.own_api or None,
                                  log=args.api_log)
            cleanup.callback(own.stop)
            api = own.start()
            benchkit.say(f"API of our own: {own.exe} on {api}")
        else:
            api = api_http.deployed_url(conn)
            if api is None or not api_http.answers(api):
                benchkit.say("api_restore: no protection API in the "
                             "catalog, or it does not answer (tools/devcloud "
                             "api)")
                return 2
        baseline = None
        if args.baseline_api:
            other = benchkit.OwnApi(os.path.join(workdir, "baseline"),
                                    args.baseline_api)
            cleanup.callback(other.stop)
            baseline = other.start()
            benchkit.say(f"baseline API: {other.exe} on {baseline}")
        return rounds(args, conn, tag, workdir, cli, api, baseline)


def protect_on(cleanup, api, conn, app, name):
    """The application protected through the API at ``api``: the
    checkpoint's id (deleted at the end)."""
    root = {"type": demo_app.SERVER, "id": app["server"].id}
    status, body = api_http.call(api, "POST", "/v1/checkpoints", conn,
                                 {"name": name, "resources": [root]})
    if status != 202:
        raise RuntimeError(f"API protect refused ({status}): {body}")
    checkpoint = body["checkpoint"]["id"]
    cleanup.callback(api_http.call, api, "DELETE",
                     f"/v1/checkpoints/{checkpoint}", conn)
    done = api_http.wait_operation(api, conn, body["operation_id"])
    if done["status"] != "succeeded":
        raise RuntimeError(f"API protect ended {done['status']}")
    return checkpoint


def rounds(args, conn, tag, workdir, cli, api, baseline=None):
    benchkit.say(f"restore through the API vs the CLI vs the floor, "
                 f"{args.repeat} round(s); {benchkit.load()}")
    sides = SIDES + ((BASELINE,) if baseline else ())
    seconds = {side: [] for side in sides}
    with contextlib.ExitStack() as cleanup:
        app = benchkit.application(cleanup, conn, args, workdir,
                                   f"bench-apirestore-{tag}")
        api_checkpoint, cli_checkpoint = protect_both(cleanup, api, conn,
                                                      cli, app, tag)
        backups = [r["backup_id"] for r in cli.volume_records(cli_checkpoint)]
        flavor = min(conn.compute.flavors(), key=lambda f: (f.ram, f.vcpus))
        runs = {SIDES[0]: lambda: api_restore(api, conn, api_checkpoint),
                SIDES[1]: lambda: cli_restore(cli, conn, cli_checkpoint),
                SIDES[2]: lambda: floor_restore(conn, backups, tag),
                SIDES[3]: lambda: critical_path(conn, app, backups,
                                                flavor.id, tag)}
        chosen = [SIDES[SHORT.index(s)] for s in args.sides.split(",")]
        if baseline:
            base_checkpoint = protect_on(cleanup, baseline, conn, app,
                                         f"bench-base-{tag}")
            runs[BASELINE] = lambda: api_restore(baseline, conn,
                                                 base_checkpoint)
            chosen.append(BASELINE)
        for n in range(args.repeat):
            order = [s for s in sides if s in chosen]
            order = order if n % 2 == 0 else order[::-1]
            for side in order:
                found = runs[side]()
                found, detail = found if isinstance(found, tuple) else \
                    (found, "")
                seconds[side].append(found)
                benchkit.say(f"  run {n + 1}  {side:<30} "
                             f"{found:7.2f} s  {detail}".rstrip())
    report(seconds)
    if baseline and seconds[BASELINE] and seconds[SIDES[0]]:
        ours = statistics.median(seconds[SIDES[0]])
        theirs = statistics.median(seconds[BASELINE])
        benchkit.say(f"  median {BASELINE:<30} {theirs:7.2f} s; this "
                     f"checkout's API {ours - theirs:+.2f} s against it")
        if len(seconds[SIDES[0]]) == len(seconds[BASELINE]):
            paired = [a - b for a, b in zip(seconds[SIDES[0]],
                                            seconds[BASELINE])]
            benchkit.say("  per round (this - baseline): " + ", ".join(
                f"{d:+.2f}" for d in paired))
    return 0


if __name__ == "__main__":
    sys.exit(main())
