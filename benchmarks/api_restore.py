"""The demo application's restore through the protection API, beside the
CLI's and beside the floor (issue #22, item 7).

    eval "$(tools/devcloud env)"; tools/devcloud api
    python benchmarks/api_restore.py [--repeat 1] [--data-gib 0]

Builds the demo-sized application (tools/cloudkit/demo_app.py) and
protects it twice: through the API devcloud deploys (the member's token)
and with the CLI (its own process, bank and database). Then, for
``--repeat`` rounds, in turn:

API    ``POST /v1/restores`` of the API's checkpoint, until ``GET
       /v1/operations/{id}`` says it ended (polled every 0.2 s);
CLI    ``stackvault restore`` of the CLI's checkpoint, start to exit;
floor  Cinder's restores of the CLI checkpoint's two volume backups,
       started at once, until both volumes are ``available``: what any
       restore of the application waits for at least (the rest of it,
       network, image, server, runs beside them).

Each restored copy is deleted before the next run, and everything (the
application, both checkpoints) at the end. Goal: the API's time beyond
the floor at most 1.5 s.
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
SIDES = ("API restore", "CLI restore", "floor: raw Cinder restores")


def api_restore(api, conn, checkpoint_id):
    started = time.perf_counter()
    status, body = api_http.call(api, "POST", "/v1/restores", conn,
                                 {"checkpoint_id": checkpoint_id})
    if status != 202:
        raise RuntimeError(f"restore refused ({status}): {body}")
    done = api_http.wait_operation(api, conn, body["operation_id"],
                                   interval=0.2)
    seconds = time.perf_counter() - started
    teardown.delete_restored(conn, done["restored"] or {})
    if done["status"] != "succeeded":
        raise RuntimeError(f"API restore ended {done['status']}: "
                           f"{done['result']}")
    return seconds


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


def protect_both(cleanup, api, conn, cli, app, tag):
    """The application protected through the API and with the CLI:
    ``(API checkpoint id, CLI checkpoint id)``."""
    root = {"type": demo_app.SERVER, "id": app["server"].id}
    status, body = api_http.call(api, "POST", "/v1/checkpoints", conn,
                                 {"name": f"bench-api-{tag}",
                                  "resources": [root]})
    if status != 202:
        raise RuntimeError(f"API protect refused ({status}): {body}")
    api_checkpoint = body["checkpoint"]["id"]
    cleanup.callback(api_http.call, api, "DELETE",
                     f"/v1/checkpoints/{api_checkpoint}", conn)
    done = api_http.wait_operation(api, conn, body["operation_id"])
    if done["status"] != "succeeded":
        raise RuntimeError(f"API protect ended {done['status']}")
    _seconds, protected = cli.run("protect", f"{root['type']}={root['id']}",
                                  "--name", f"bench-cli-{tag}")
    cli_checkpoint = protected["checkpoint_id"]
    cleanup.callback(cli.run, "checkpoint", "delete", cli_checkpoint)
    return api_checkpoint, cli_checkpoint


def report(seconds):
    medians = {side: statistics.median(found)
               for side, found in seconds.items()}
    for side in SIDES:
        benchkit.say(f"  median {side:<28} {medians[side]:7.2f} s "
                     f"({len(seconds[side])} runs)")
    beyond = medians[SIDES[0]] - medians[SIDES[2]]
    benchkit.say(f"API beyond the floor: {beyond:.2f} s (goal <= {GOAL} s: "
                 f"{'met' if beyond <= GOAL else 'MISSED'}); CLI beyond the "
                 f"floor: {medians[SIDES[1]] - medians[SIDES[2]]:.2f} s; "
                 f"{benchkit.load()}")


def main(argv=None):
    args = benchkit.parser(__doc__, "10.250.9.0/24").parse_args(argv)
    conn, tag, workdir, cli = benchkit.start(args, "api-restore")
    api = api_http.deployed_url(conn)
    if api is None or not api_http.answers(api):
        benchkit.say("api_restore: no protection API in the catalog, or it "
                     "does not answer (tools/devcloud api)")
        return 2
    benchkit.say(f"restore through the API vs the CLI vs the floor, "
                 f"{args.repeat} round(s); {benchkit.load()}")
    seconds = {side: [] for side in SIDES}
    with contextlib.ExitStack() as cleanup:
        app = benchkit.application(cleanup, conn, args, workdir,
                                   f"bench-apirestore-{tag}")
        api_checkpoint, cli_checkpoint = protect_both(cleanup, api, conn,
                                                      cli, app, tag)
        backups = [r["backup_id"] for r in cli.volume_records(cli_checkpoint)]
        runs = {SIDES[0]: lambda: api_restore(api, conn, api_checkpoint),
                SIDES[1]: lambda: cli_restore(cli, conn, cli_checkpoint),
                SIDES[2]: lambda: floor_restore(conn, backups, tag)}
        for n in range(args.repeat):
            order = SIDES if n % 2 == 0 else SIDES[::-1]
            for side in order:
                seconds[side].append(runs[side]())
                benchkit.say(f"  run {n + 1}  {side:<28} "
                             f"{seconds[side][-1]:7.2f} s")
    report(seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
