"""Protect and restore parameters: parsing, merging and validation.

Parameters are keyed by resource type (``OS::Cinder::Volume``) and may be
overridden for one resource (``OS::Cinder::Volume#<id>``). They are checked
against the plugin's JSON Schema before any work starts; an error names the
resource, the key and the reason.
"""

import json

import jsonschema

from protection import exceptions
from protection.model.resource import key_str


def parse_assignment(text):
    """``TYPE[#ID]:KEY=VALUE`` -> ``(target, key, value_text)``.

    Types contain ``::``, so the key is what follows the last ``:`` before
    the first ``=``.
    """
    left, sep, value = text.partition("=")
    target, colon, key = left.rpartition(":")
    if not sep or not colon or not target or not key or target.endswith(":"):
        raise exceptions.InvalidParameter(
            text, None, "expected TYPE[#ID]:KEY=VALUE, for example "
            "OS::Cinder::Volume:backup_mode=incremental")
    return target, key, value


def from_assignments(assignments):
    """Collect ``TYPE[#ID]:KEY=VALUE`` strings into the parameters dict."""
    parameters = {}
    for text in assignments or []:
        target, key, value = parse_assignment(text)
        parameters.setdefault(target, {})[key] = value
    return parameters


def _coerce(value, prop_schema):
    """Turn a command-line string into the type the schema asks for."""
    if not isinstance(value, str):
        return value
    wanted = prop_schema.get("type") if isinstance(prop_schema, dict) else None
    wanted = set(wanted) if isinstance(wanted, list) else {wanted}
    if wanted <= {"string", None} and None not in wanted:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def coerce(values, schema):
    props = (schema or {}).get("properties", {})
    return {k: _coerce(v, props.get(k, {})) for k, v in values.items()}


def for_resource(parameters, resource):
    """Per-type values overridden by the ``TYPE#ID`` values of ``resource``."""
    merged = dict(parameters.get(resource.type, {}))
    merged.update(parameters.get(key_str(resource.key), {}))
    return merged


def check_targets(parameters, graph):
    """Every parameter target must name a type or a resource in the graph."""
    types = {r.type for r in graph}
    keys = {key_str(r.key) for r in graph}
    for target in parameters:
        if "#" in target:
            if target not in keys:
                raise exceptions.InvalidParameter(
                    target, None, "no such resource in this operation")
        elif target not in types:
            raise exceptions.InvalidParameter(
                target, None, "no resource of this type in this operation "
                f"(types: {', '.join(sorted(types))})")


def validate(schema, values, resource):
    """Validate ``values`` for ``resource``; return them coerced.

    Raises :class:`~protection.exceptions.InvalidParameter` with the first
    error (resource, key, reason).
    """
    values = coerce(values, schema)
    if not schema:
        if values:
            raise exceptions.InvalidParameter(
                str(resource), sorted(values)[0],
                "this resource type takes no parameters")
        return values
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(values),
                    key=lambda e: (list(e.path), e.message))
    if errors:
        error = errors[0]
        key = error.path[0] if error.path else None
        if key is None and error.validator == "additionalProperties":
            extra = sorted(set(values) - set(schema.get("properties", {})))
            key = extra[0] if extra else None
            reason = "unknown parameter (known: " + ", ".join(
                sorted(schema.get("properties", {}))) + ")"
        elif key is None and error.validator == "required":
            missing = sorted(k for k in error.validator_value
                             if k not in values)
            key = missing[0] if missing else None
            reason = error.message
        else:
            reason = error.message
        raise exceptions.InvalidParameter(str(resource), key, reason)
    return values


def check_schema(schema, owner):
    """A plugin's schema must itself be a valid JSON Schema."""
    if not schema:
        return
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise exceptions.PluginError(
            f"{owner} has an invalid JSON Schema: "
            f"{exc.message}") from None
