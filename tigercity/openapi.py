"""OpenAPI generation tweaks."""


def strip_trailing_slashes(endpoints):
    """Our routes match with and without a trailing slash; document the form without one."""
    return [(path.rstrip("/") or "/", regex, method, callback) for path, regex, method, callback in endpoints]
