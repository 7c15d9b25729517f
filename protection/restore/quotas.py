"""Free quota of the project a restore goes into, against what it needs.

Plugins announce what their restore would use as
:class:`protection.plugin.checks.Demand` (``compute.cores``: 2); the sums are
compared here with ``limit - in use - reserved`` as Nova, Cinder and
Neutron report them for the connection's own project, and with ``limit -
usage`` as Glance reports its unified limits (``/v2/info/usage``; a Glance
that enforces none reports none: unlimited). Only services something is
demanded of are asked. A limit of -1 is unlimited; a quota
the cloud will not show (policy, old API) is ``unknown``, never a pass
in disguise.
"""

from concurrent import futures

from openstack import exceptions as sdk_exceptions

from protection.plugin.checks import Check
from protection.plugin.checks import PASS
from protection.plugin.checks import UNKNOWN

# SERVICE.NAME -> what users call it
QUOTAS = {
    "compute.instances": "instances",
    "compute.cores": "cores",
    "compute.ram": "RAM (MiB)",
    "volume.volumes": "volumes",
    "volume.gigabytes": "volume gigabytes",
    "network.networks": "networks",
    "network.subnets": "subnets",
    "network.ports": "ports",
    "network.routers": "routers",
    "network.security_groups": "security groups",
    "network.floating_ips": "floating IPs",
    "image.image_count_total": "images",
    "image.image_size_total": "image MiB",
}


def _from_quota_set(quota_set, name):
    limit = getattr(quota_set, name, None)
    used = (quota_set.usage or {}).get(name, 0) or 0
    reserved = (quota_set.reservation or {}).get(name, 0) or 0
    return limit, used + reserved


def _from_network(details, name):
    value = getattr(details, name, None) or {}
    return value.get("limit"), (value.get("used") or 0) + (
        value.get("reserved") or 0)


def _from_glance(usage, name):
    if not usage:                 # Glance enforces no unified limits
        return -1, 0
    value = usage.get(name) or {}
    return value.get("limit"), value.get("usage") or 0


def _reader(conn, service):
    """``name -> (limit, used)`` for one service of the current project."""
    project = conn.current_project_id
    if service == "compute":
        found = conn.compute.get_quota_set(project, usage=True)
        return lambda name: _from_quota_set(found, name)
    if service == "volume":
        found = conn.block_storage.get_quota_set(project, usage=True)
        return lambda name: _from_quota_set(found, name)
    if service == "image":
        response = conn.image.get("/info/usage")
        sdk_exceptions.raise_from_response(response)
        usage = response.json().get("usage") or {}
        return lambda name: _from_glance(usage, name)
    found = conn.network.get_quota(project, details=True)
    return lambda name: _from_network(found, name)


def _verdict(label, wanted, limit, used):
    if limit is None:
        return Check(f"quota {label}", UNKNOWN,
                               f"needs {wanted}; the cloud shows no limit")
    if limit < 0:
        return Check(f"quota {label}", PASS,
                               f"needs {wanted}; unlimited")
    free = limit - used
    return Check.of(
        f"quota {label}", wanted <= free,
        f"needs {wanted}, {max(free, 0)} free ({used} of {limit} used)")


def _read(conn, service):
    try:
        return _reader(conn, service)
    except sdk_exceptions.SDKException as exc:
        return exc


def checks(conn, demands):
    """One Check per demanded quota, in QUOTAS order; the services asked
    at once (each is one request that mostly waits)."""
    unknown = sorted(set(demands) - set(QUOTAS))
    if unknown:     # a plugin's mistake, not the operator's
        raise ValueError(f"unknown quota names {unknown} (known: "
                         f"{', '.join(QUOTAS)})")
    wanted = [(quota.split(".") + [label, demands[quota]])
              for quota, label in QUOTAS.items() if demands.get(quota)]
    services = sorted({service for service, *_ in wanted})
    if not services:
        return []
    with futures.ThreadPoolExecutor(
            len(services), thread_name_prefix="stackvault-quota") as pool:
        readers = dict(zip(services, pool.map(
            lambda service: _read(conn, service), services)))
    found = []
    for service, name, label, amount in wanted:
        read = readers[service]
        if isinstance(read, Exception):
            found.append(Check(
                f"quota {label}", UNKNOWN,
                f"needs {amount}; the {service} quota could not be read: "
                f"{read}"))
            continue
        found.append(_verdict(label, amount, *read(name)))
    return found
