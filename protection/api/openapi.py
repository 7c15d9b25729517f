"""The OpenAPI 3 document of v1, made from the route table and its JSON
Schemas (served at ``/v1/openapi.json``)."""

import webob.exc

from protection.api import microversion

_QUERY_TYPES = ("integer", "boolean", "string")


def _parameters(route):
    params = [{"name": name, "in": "path", "required": True,
               "schema": {"type": "string"}} for name in route.params]
    for name, schema in (route.query or {}).get("properties", {}).items():
        params.append({"name": name, "in": "query", "required": False,
                       "schema": schema})
    return params


def _responses(route):
    answers = {}
    for code in route.responses:
        answers[str(code)] = {"description": webob.exc.status_map[code]
                              .title}
    for code in (401, 403, 406):
        answers.setdefault(str(code), {
            "description": webob.exc.status_map[code].title,
            "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}})
    return answers


def _operation(route):
    operation = {"summary": route.summary,
                 "operationId": route.handler.__name__,
                 "parameters": _parameters(route),
                 "responses": _responses(route)}
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": route.body}}}
    return operation


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "integer"}, "title": {"type": "string"},
        "message": {"type": "string"}, "request_id": {"type": "string"}}}},
}


def document(host_url=""):
    # Imported here: the route table imports the handler that serves
    # this document.
    from protection.api import routes
    paths = {}
    for route in routes.ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = \
            _operation(route)
    return {
        "openapi": "3.0.3",
        "info": {"title": "stackvault data-protection API",
                 "version": str(microversion.MAX_VERSION),
                 "description": "Microversions: header "
                                f"'{microversion.HEADER}: "
                                f"{microversion.SERVICE_TYPE} X.Y'."},
        "servers": [{"url": host_url or "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"keystone": {
                "type": "apiKey", "in": "header", "name": "X-Auth-Token"}}},
        "security": [{"keystone": []}],
    }
