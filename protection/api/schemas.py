"""JSON Schemas of request bodies and query strings, and their checks.

A body or query that does not match is 400 with the field named
(``resources/0/type``), also an unknown field (``additionalProperties``
is false everywhere): a typo is an error, not a silently ignored option.
"""

import json

import jsonschema

from protection.api import errors

RESOURCE_REF = {
    "type": "object",
    "properties": {"type": {"type": "string", "minLength": 1,
                            "maxLength": 255},
                   "id": {"type": "string", "minLength": 1,
                          "maxLength": 255}},
    "required": ["type", "id"],
    "additionalProperties": False,
}

PARAMETERS = {"type": "object",
              "description": "Per resource type (or TYPE#ID) parameters, "
                             "as the CLI's --parameter gives them.",
              "propertyNames": {"minLength": 1, "maxLength": 255},
              # each TYPE[#ID] holds its KEY: VALUE pairs, which the
              # plugins' own schemas check further
              "additionalProperties": {"type": "object"}}

PROTECT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "resources": {"type": "array", "minItems": 1, "maxItems": 1000,
                      "items": RESOURCE_REF},
        "parameters": PARAMETERS,
    },
    "required": ["name", "resources"],
    "additionalProperties": False,
}

RESTORE = {
    "type": "object",
    "properties": {
        "checkpoint_id": {"type": "string", "minLength": 1,
                          "maxLength": 64},
        "parameters": PARAMETERS,
        "only": {"type": "array", "items": RESOURCE_REF},
        "exclude": {"type": "array", "items": RESOURCE_REF},
        "on_failure": {"enum": ["rollback", "keep"]},
        "dry_run": {"type": "boolean"},
    },
    "required": ["checkpoint_id"],
    "additionalProperties": False,
}

_KEEP = {"type": ["integer", "null"], "minimum": 1, "maximum": 100000,
         "description": "keep the newest N available checkpoints (null: "
                        "all)"}
_KEEP_DAYS = {"type": ["number", "null"], "exclusiveMinimum": 0,
              "maximum": 36500,
              "description": "delete available checkpoints older than D "
                             "days (null: never)"}
_PLAN_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "resources": {"type": "array", "minItems": 1, "maxItems": 1000,
                  "items": RESOURCE_REF},
    "parameters": PARAMETERS,
    "keep": _KEEP,
    "keep_days": _KEEP_DAYS,
    "schedule": {"type": ["string", "null"], "maxLength": 255,
                 "description": "scheduled runs of plans made through the "
                                "API wait for deferred auth: only null is "
                                "accepted (run it with POST "
                                "/v1/plans/{plan_id}/run)"},
}

PLAN_CREATE = {"type": "object", "properties": _PLAN_FIELDS,
               "required": ["name", "resources"],
               "additionalProperties": False}

PLAN_UPDATE = {"type": "object", "properties": _PLAN_FIELDS,
               "minProperties": 1, "additionalProperties": False}

ADOPT = {
    "type": "object",
    "properties": {"project_id": {
        "type": "string", "minLength": 1, "maxLength": 64,
        "description": "admin: the project to give it to (default: the "
                       "caller's)"}},
    "additionalProperties": False,
}

ALL_PROJECTS = {"type": "boolean",
                "description": "admin: every project's (default false)"}


def page_query(sort_keys, filters):
    """The query of a paginated list: ``limit``, ``marker``, ``sort``
    (``KEY`` or ``KEY:asc|desc``), ``all_projects`` and ``filters``."""
    sorts = [f"{key}{direction}" for key in sort_keys
             for direction in ("", ":asc", ":desc")]
    properties = {"limit": {"type": "integer", "minimum": 1},
                  "marker": {"type": "string", "maxLength": 64},
                  "sort": {"enum": sorts},
                  "all_projects": ALL_PROJECTS}
    properties.update({name: {"type": "string", "maxLength": 255}
                       for name in filters})
    return {"type": "object", "properties": properties,
            "additionalProperties": False}


CHECKPOINT_LIST_QUERY = page_query(("created_at", "name", "status"),
                                   ("status", "plan_id", "name"))
OPERATION_LIST_QUERY = page_query(("created_at", "kind", "status"),
                                  ("status", "kind", "checkpoint_id"))
PLAN_LIST_QUERY = page_query(("created_at", "name"), ("name",))
RESOURCE_LIST_QUERY = {"type": "object",
                       "properties": {"type": {"type": "string"}},
                       "additionalProperties": False}
DELETE_QUERY = {"type": "object",
                "properties": {"force": {
                    "type": "boolean",
                    "description": "clean up a protect whose process "
                                   "died"}},
                "additionalProperties": False}


def _where(error, what):
    path = "/".join(str(p) for p in error.absolute_path)
    return f"{what} field '{path}'" if path else what


def check(instance, schema, what):
    """Raise BadRequest naming every field that does not match (an
    unknown field first: it is most often a typo of a missing one)."""
    validator = jsonschema.Draft202012Validator(schema)
    found = sorted(validator.iter_errors(instance),
                   key=lambda e: (e.validator != "additionalProperties",
                                  list(map(str, e.absolute_path))))
    if found:
        raise errors.BadRequest("; ".join(
            f"invalid {_where(error, what)}: {error.message}"
            for error in found[:5]))


def body(request, schema):
    """The request's JSON body, checked against ``schema`` (no body:
    ``{}``, so a schema's required fields are named)."""
    if not request.body:
        check({}, schema, "body")
        return {}
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise errors.BadRequest(f"the body is not valid JSON: {exc}") \
            from None
    check(data, schema, "body")
    return data


_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def _typed(name, text, prop):
    kind = prop.get("type")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise errors.BadRequest(f"invalid query parameter '{name}': "
                                    f"{text!r} is not an integer") from None
    if kind == "boolean":
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise errors.BadRequest(f"invalid query parameter '{name}': "
                                f"{text!r} is not true or false")
    return text


def query(request, schema):
    """The query string as a dict of typed values, checked: an unknown
    or repeated parameter is 400."""
    schema = schema or {"type": "object", "additionalProperties": False}
    props = schema.get("properties", {})
    found = {}
    for name, text in request.GET.items():
        if name in found:
            raise errors.BadRequest(f"query parameter '{name}' is given "
                                    "more than once")
        if name not in props:
            raise errors.BadRequest(f"unknown query parameter '{name}'")
        found[name] = _typed(name, text, props[name])
    check(found, schema, "query")
    return found
