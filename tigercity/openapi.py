"""OpenAPI generation tweaks."""


def strip_trailing_slashes(endpoints):
    """Our routes match with and without a trailing slash; document the form without one."""
    return [(path.rstrip("/") or "/", regex, method, callback) for path, regex, method, callback in endpoints]


def nullable_refs(result, generator, request, public):
    """Spectacular postprocessing hook: make nullable references valid under OpenAPI 3.0.3.

    drf-spectacular writes a nullable nested serializer as {"allOf": [{"$ref"}], "nullable": true},
    but in 3.0 `nullable` does not reach into allOf, so a null still fails the referenced object.
    {"anyOf": [{"$ref"}, {"enum": [null], "nullable": true}]} says "the object, or null" in a way
    3.0.3 validators (openapi-spec-validator, openapi-core) accept."""

    def fix(node):
        if isinstance(node, dict):
            if node.get("nullable") is True and isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
                rest = {k: v for k, v in node.items() if k not in ("allOf", "nullable")}
                return {**rest, "anyOf": [fix(node["allOf"][0]), {"enum": [None], "nullable": True}]}
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    return fix(result)
