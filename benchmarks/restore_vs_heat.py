"""Restore against Heat doing the same work, side by side on one cloud.

    eval "$(tools/devcloud env)"
    python benchmarks/restore_vs_heat.py --repeat 3
    python benchmarks/restore_vs_heat.py --repeat 3 --data-gib 1

Builds the demo-sized application (tools/cloudkit/demo_app.py: network
with subnet, router and security group; image; server on a port with a
fixed IP and MAC; two volumes attached), protects it with ``stackvault
protect`` (its own bank and database in a temporary directory), then, for
``--repeat`` rounds, alternates which goes first:

stackvault  ``stackvault restore CHECKPOINT -f json``, the CLI in its own
            process, from start to exit;
heat        one Heat stack creating the same resources from the same
            Cinder backups (network, subnet, router with its gateway and
            interface, security group with its rule, port with the same
            fixed IP and MAC, two volumes from the backups, the server on
            the port booting the original image -- Heat does not upload an
            image, stackvault does -- and two volume attachments), from
            ``create_stack`` until ``CREATE_COMPLETE`` (polled every 0.2 s).

Each result is deleted before the next run. With ``--data-gib N`` the two
volumes are N GiB, filled with random bytes, so that data movement (the
backup restore), not API latency, dominates. It prints every run (for
stackvault, the API calls per restored resource and the slowest volume
restore, from the result: Cinder's own work, which the Heat stack waits
for as well), the medians and the ratio stackvault / heat against the
goal (<= 0.7).
Everything is deleted at the end, also when a run fails. Figures measured
on devcloud are in doc/operations.rst ("Performance").
"""

import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from benchmarks import benchkit  # noqa: E402
from tools.cloudkit import demo_app  # noqa: E402
from tools.cloudkit import teardown  # noqa: E402

GOAL = 0.7
OURS, HEAT = "stackvault restore", "heat stack-create"


def heat_template(app, volumes, flavor_id, cidr):
    """A HOT template creating what the restore creates."""
    port = app["port"]
    res = {
        "net": {"type": "OS::Neutron::Net", "properties": {}},
        "subnet": {"type": "OS::Neutron::Subnet", "properties": {
            "network": {"get_resource": "net"}, "cidr": cidr,
            "ip_version": 4}},
        "router": {"type": "OS::Neutron::Router", "properties": {
            "external_gateway_info": {"network": "public"}}},
        "router_if": {"type": "OS::Neutron::RouterInterface", "properties": {
            "router": {"get_resource": "router"},
            "subnet": {"get_resource": "subnet"}}},
        "group": {"type": "OS::Neutron::SecurityGroup", "properties": {
            "rules": [{"direction": "ingress", "ethertype": "IPv4",
                       "protocol": "tcp", "port_range_min": 80,
                       "port_range_max": 80,
                       "remote_ip_prefix": "0.0.0.0/0"}]}},
        "port": {"type": "OS::Neutron::Port", "properties": {
            "network": {"get_resource": "net"},
            "mac_address": port.mac_address,
            "fixed_ips": [{"subnet": {"get_resource": "subnet"},
                           "ip_address": app["fixed_ip"]}],
            "security_groups": [{"get_resource": "group"}]}},
        "server": {"type": "OS::Nova::Server", "properties": {
            "image": app["image"].id, "flavor": flavor_id,
            "networks": [{"port": {"get_resource": "port"}}]}},
    }
    for index, saved in enumerate(volumes):
        res[f"volume{index}"] = {"type": "OS::Cinder::Volume", "properties": {
            "backup_id": saved["backup_id"], "size": saved["size"]}}
        res[f"attach{index}"] = {
            "type": "OS::Cinder::VolumeAttachment", "properties": {
                "instance_uuid": {"get_resource": "server"},
                "volume_id": {"get_resource": f"volume{index}"}}}
    return {"heat_template_version": "2018-08-31", "resources": res}


def smallest_flavor(conn):
    """The flavor the demo application's server has (demo_app's rule)."""
    return min(conn.compute.flavors(), key=lambda f: (f.ram, f.vcpus)).id


def heat_run(conn, template, name):
    """Seconds from create_stack to CREATE_COMPLETE; the stack's id."""
    started = time.perf_counter()
    stack = conn.orchestration.create_stack(name=name, template=template,
                                            timeout_mins=30)
    while True:
        now = conn.orchestration.get_stack(stack.id)
        if now.status == "CREATE_COMPLETE":
            return time.perf_counter() - started, stack.id
        if now.status != "CREATE_IN_PROGRESS":
            raise RuntimeError(f"stack {stack.id} is {now.status}: "
                               f"{now.status_reason}")
        time.sleep(0.2)


def stackvault_run(cli, conn, checkpoint_id):
    seconds, result = cli.run("restore", checkpoint_id)
    try:
        if result.get("status") != "success":
            raise RuntimeError(f"restore failed: {result.get('failures')}")
        created = len(result.get("restored") or {})
        total = sum((result.get("api_calls") or {}).values())
        return seconds, (f"{benchkit.api_calls(result)} for {created} "
                         f"restored objects: {total / max(created, 1):.1f} "
                         f"per object; {slowest_volume(result)}")
    finally:
        teardown.delete_restored(conn, result.get("restored") or {})


def slowest_volume(result):
    """The longest volume restore of a result's ``timings``: Cinder's
    backup restore, the part of the critical path that Heat waits for
    too (same backups, same Cinder)."""
    volumes = [seconds for key, seconds in (result.get("timings")
                                            or {}).items()
               if key.startswith("OS::Cinder::Volume#")]
    if not volumes:
        return "no volume"
    return f"slowest volume restore {max(volumes):.2f} s"


def rounds(conn, cli, checkpoint_id, template, repeat, tag):
    report = benchkit.Report((OURS, HEAT), GOAL)
    for n in range(repeat):
        for side in report.order(n):
            if side == OURS:
                seconds, calls = stackvault_run(cli, conn, checkpoint_id)
                report.record(side, seconds, calls)
            else:
                try:
                    seconds, stack_id = heat_run(conn, template,
                                                 f"bench-heat-{tag}-{n}")
                finally:
                    for stack in conn.orchestration.stacks():
                        if stack.name == f"bench-heat-{tag}-{n}":
                            teardown.delete_stack(conn, stack.id)
                report.record(side, seconds)
    return report.print()


def main(argv=None):
    args = benchkit.parser(__doc__, "10.250.8.0/24").parse_args(argv)
    conn, tag, workdir, cli = benchkit.start(args, "restore")
    benchkit.say(f"restore vs Heat, {args.repeat} round(s), volumes with "
                 f"{args.data_gib or 'no'} GiB of data; {benchkit.load()}")
    with contextlib.ExitStack() as cleanup:
        app = benchkit.application(cleanup, conn, args, workdir,
                                   f"bench-restore-{tag}")
        seconds, protected = cli.run(
            "protect", f"{demo_app.SERVER}={app['server'].id}",
            "--name", f"bench-restore-{tag}")
        checkpoint_id = protected["checkpoint_id"]
        cleanup.callback(cli.run, "checkpoint", "delete", checkpoint_id)
        benchkit.say(f"  protected in {seconds:.2f} s: {checkpoint_id}")
        template = heat_template(app, cli.volume_records(checkpoint_id),
                                 smallest_flavor(conn), args.cidr)
        rounds(conn, cli, checkpoint_id, template, args.repeat, tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
