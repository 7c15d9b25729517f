"""``/v1/resources``: what the caller's project can protect, read from
the cloud with the caller's token (so the cloud scopes it)."""

from protection.api.policies import resources as rules


def _resource(resource):
    return resource.to_dict()


def list_resources(request):
    request.caller.authorize(rules.LIST, request.caller.project_id)
    found = request.service.list_resources(request.connection(),
                                           request.query.get("type"))
    return 200, {"resources": [_resource(r) for r in found]}


def show_resource(request, resource_type, resource_id):
    request.caller.authorize(rules.SHOW, request.caller.project_id)
    conn = request.connection()
    resource = request.service.show_resource(conn, resource_type,
                                             resource_id)
    graph = request.service.resource_graph(conn, [resource])
    return 200, {"resource": _resource(resource),
                 "tree": [dict(_resource(r), depth=depth)
                          for depth, r in graph.tree()],
                 "graph": graph.to_dict()}
