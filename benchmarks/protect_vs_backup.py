"""Protect against raw parallel Cinder backups of the same volumes.

    eval "$(tools/devcloud env)"
    python benchmarks/protect_vs_backup.py --repeat 3
    python benchmarks/protect_vs_backup.py --repeat 3 --data-gib 1

Builds the demo-sized application (tools/cloudkit/demo_app.py), then, for
``--repeat`` rounds, alternates which goes first:

stackvault  ``stackvault protect --name ... OS::Nova::Server=ID -f json``,
            the CLI in its own process (its own bank and database in a
            temporary directory), from start to exit: the whole
            application (network, image data into the bank, server
            description, both volumes backed up);
raw         ``create_backup(force=True)`` of the two in-use volumes at
            once, from the first call until both are ``available``
            (polled every 0.2 s): the least a backup of the data needs.

With ``--method direct`` stackvault backs the volumes up as the raw side
does (``method=direct``: the in-use volume itself, ``force``) instead of
its default temporary snapshot (crash-consistent, self-contained).

Each result is deleted before the next run (``stackvault checkpoint
delete``; the raw backups). With ``--data-gib N`` the two volumes are N
GiB, filled with random bytes, so that moving data dominates. It prints
every run, the medians and the ratio stackvault / raw against the goal
(<= 1.1). Everything is deleted at the end, also when a run fails.
Figures measured on devcloud are in doc/operations.rst ("Performance").
"""

import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from benchmarks import benchkit  # noqa: E402
from tools.cloudkit import demo_app  # noqa: E402
from tools.cloudkit import waits  # noqa: E402

GOAL = 1.1
OURS, RAW = "stackvault protect", "raw parallel backups"


def raw_run(conn, volume_ids, name):
    """Seconds until every backup is available; the backups' ids."""
    started = time.perf_counter()
    backups = [conn.block_storage.create_backup(volume_id=v, name=name,
                                                force=True)
               for v in volume_ids]
    pending = {b.id for b in backups}
    while pending:
        for backup_id in list(pending):
            status = conn.block_storage.get_backup(backup_id).status
            if status == "available":
                pending.discard(backup_id)
            elif status == "error":
                raise RuntimeError(f"backup {backup_id} went to error")
        if pending:
            time.sleep(0.2)
    return time.perf_counter() - started, [b.id for b in backups]


def delete_backups(conn, backup_ids):
    for backup_id in backup_ids:
        conn.block_storage.delete_backup(backup_id, ignore_missing=True)
    for backup_id in backup_ids:
        waits.wait_gone(lambda b=backup_id: conn.block_storage.get_backup(b),
                        what=f"backup {backup_id}")


def rounds(conn, cli, app, args, tag):
    report = benchkit.Report((OURS, RAW), GOAL)
    server = f"{demo_app.SERVER}={app['server'].id}"
    method = ["--parameter", f"OS::Cinder::Volume:method={args.method}"]
    repeat = args.repeat
    for n in range(repeat):
        for side in report.order(n):
            if side == OURS:
                seconds, result = cli.run("protect", "--name",
                                          f"bench-{tag}-{n}", server,
                                          *method)
                cli.run("checkpoint", "delete", result["checkpoint_id"])
                report.record(side, seconds, benchkit.api_calls(result))
            else:
                backup_ids = []
                try:
                    seconds, backup_ids = raw_run(
                        conn, list(app["volumes"]), f"bench-raw-{tag}")
                finally:
                    delete_backups(conn, backup_ids)
                report.record(side, seconds)
    return report.print()


def main(argv=None):
    parser = benchkit.parser(__doc__, "10.250.9.0/24")
    parser.add_argument("--method", choices=("snapshot", "direct"),
                        default="snapshot",
                        help="the volume plugin's method (default: its "
                             "default, snapshot)")
    args = parser.parse_args(argv)
    conn, tag, workdir, cli = benchkit.start(args, "protect")
    benchkit.say(f"protect (method={args.method}) vs raw backups, "
                 f"{args.repeat} round(s), volumes with "
                 f"{args.data_gib or 'no'} GiB of data; "
                 f"{benchkit.load()}")
    with contextlib.ExitStack() as cleanup:
        app = benchkit.application(cleanup, conn, args, workdir,
                                   f"bench-protect-{tag}")
        rounds(conn, cli, app, args, tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
