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

Which names exist is the plugins' to say: each declares the quota names
its demands use (``quota_demands``, ``SERVICE.FIELD`` -> label, checked
when it loads against :data:`~protection.plugin.checks.QUOTA_SERVICES`),
and the registry's :meth:`~protection.plugin.registry.PluginRegistry.
quota_labels` is what this module compares. SERVICE picks one of the
readers below; FIELD is read from its answer as it is for the names
stackvault's own plugins use (a field the cloud does not show is
``unknown``).
"""

from concurrent import futures

from openstack import exceptions as sdk_exceptions

from protection import exceptions
from protection.plugin.checks import Check
from protection.plugin.checks import PASS
from protection.plugin.checks import QUOTA_SERVICES
from protection.plugin.checks import UNKNOWN

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


def _compute(conn):
    found = conn.compute.get_quota_set(conn.current_project_id, usage=True)
    return lambda name: _from_quota_set(found, name)


def _volume(conn):
    found = conn.block_storage.get_quota_set(conn.current_project_id,
                                             usage=True)
    return lambda name: _from_quota_set(found, name)


def _network(conn):
    found = conn.network.get_quota(conn.current_project_id, details=True)
    return lambda name: _from_network(found, name)


def _image(conn):
    response = conn.image.get("/info/usage")
    sdk_exceptions.raise_from_response(response)
    usage = response.json().get("usage") or {}
    return lambda name: _from_glance(usage, name)


# SERVICE -> reader: ``reader(conn)`` asks the service once and returns
# ``field -> (limit, used)`` for the connection's own project. The same
# services, in the same order, as checks.QUOTA_SERVICES.
READERS = {"compute": _compute, "volume": _volume, "network": _network,
           "image": _image}


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
        return READERS[service](conn)
    except sdk_exceptions.SDKException as exc:
        return exc


def _wanted(demands, labels):
    """``[service, field, label, amount]`` of each non-zero demand, by
    service (QUOTA_SERVICES' order), then in the order of ``labels``."""
    unknown = sorted(set(demands) - set(labels))
    if unknown:     # a plugin's mistake, not the operator's
        raise exceptions.PluginError(
            f"quota names {unknown} demanded but declared by no plugin "
            f"(declared: {', '.join(labels) or 'none'})")
    order = list(QUOTA_SERVICES)
    wanted = [quota.split(".", 1) + [label, demands[quota]]
              for quota, label in labels.items() if demands.get(quota)]
    return sorted(wanted, key=lambda item: order.index(item[0]))


def declared_services(registry, graph):
    """The services whose quotas the plugins of ``graph``'s types may
    demand (their ``quota_demands``): what can be read before the hooks
    say what they demand."""
    return sorted({quota.split(".", 1)[0] for resource in graph
                   for quota in registry.get(resource.type).quota_demands
                   if quota.split(".", 1)[0] in READERS})


def read_ahead(pool, conn, services):
    """``{service: future of its reader}``, each asked on ``pool`` now."""
    return {service: pool.submit(_read, conn, service)
            for service in services}


def checks(conn, demands, labels, ahead=None):
    """One Check per demanded quota (``demands``: SERVICE.FIELD -> amount;
    ``labels``: SERVICE.FIELD -> what users call it, the registry's
    ``quota_labels()``); the services asked at once (each is one request
    that mostly waits). ``ahead``: what :func:`read_ahead` is already
    asking (used where it has the service; the rest is asked here)."""
    wanted = _wanted(demands, labels)
    services = sorted({service for service, *_ in wanted})
    if not services:
        return []
    ahead = ahead or {}
    missing = [service for service in services if service not in ahead]
    readers = {}
    if missing:
        with futures.ThreadPoolExecutor(
                len(missing), thread_name_prefix="stackvault-quota") as pool:
            readers = dict(zip(missing, pool.map(
                lambda service: _read(conn, service), missing)))
    readers.update({service: ahead[service].result()
                    for service in services if service in ahead})
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
