"""A small JSON Schema validator: the subset ``loadrun/schemas/*.schema.json`` use.

Supported keywords: type, const, enum, properties, required, additionalProperties (boolean),
items, minimum, maximum, pattern, $ref (local ``#/$defs/...``, with sibling keywords).
An unknown keyword fails loudly, so a schema cannot silently outgrow this validator.
"""

from __future__ import annotations

import re

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description"}


def validate(instance, schema: dict, root: dict | None = None, where: str = "$") -> list[str]:
    """Every violation as ``path: problem``; an empty list means valid."""
    root = root if root is not None else schema
    errors: list[str] = []
    for key, rule in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "$ref":
            target = root
            for part in rule.removeprefix("#/").split("/"):
                target = target[part]
            errors += validate(instance, target, root, where)
        elif key == "type":
            kinds = [rule] if isinstance(rule, str) else rule
            if not any(_TYPES[k](instance) for k in kinds):
                errors.append(f"{where}: {instance!r} is not of type {rule}")
        elif key == "const":
            if instance != rule:
                errors.append(f"{where}: {instance!r} != {rule!r}")
        elif key == "enum":
            if instance not in rule:
                errors.append(f"{where}: {instance!r} not in {rule}")
        elif key == "required":
            if isinstance(instance, dict):
                errors += [f"{where}: missing {k!r}" for k in rule if k not in instance]
        elif key == "properties":
            if isinstance(instance, dict):
                for k, sub in rule.items():
                    if k in instance:
                        errors += validate(instance[k], sub, root, f"{where}.{k}")
        elif key == "additionalProperties":
            if isinstance(instance, dict) and rule is False:
                allowed = schema.get("properties", {})
                errors += [f"{where}: unexpected {k!r}" for k in instance if k not in allowed]
        elif key == "items":
            if isinstance(instance, list):
                for i, item in enumerate(instance):
                    errors += validate(item, rule, root, f"{where}[{i}]")
        elif key == "minimum":
            if _TYPES["number"](instance) and instance < rule:
                errors.append(f"{where}: {instance} < {rule}")
        elif key == "maximum":
            if _TYPES["number"](instance) and instance > rule:
                errors.append(f"{where}: {instance} > {rule}")
        elif key == "pattern":
            if isinstance(instance, str) and not re.search(rule, instance):
                errors.append(f"{where}: {instance!r} does not match {rule}")
        else:
            raise ValueError(f"{where}: unsupported schema keyword {key!r}")
    return errors
