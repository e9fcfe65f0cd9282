"""Template helpers of the Playground."""
from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def signup_enabled() -> bool:
    return bool(settings.TIGER["SIGNUP"])


@register.filter
def metric(value, digits: int = 4) -> str:
    """A training metric for people: a few significant digits, or a dash when the engine gave none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    try:
        return f"{float(value):.{int(digits)}g}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def get(mapping, key):
    """mapping[key] in a template (None when absent)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def plain(value) -> str:
    """A number as a person writes it in a form: 0.00001, not 1e-05; whole floats without '.0'."""
    if value is None or value == "" or isinstance(value, str):
        return value if value is not None else ""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        text = f"{value:.12f}".rstrip("0").rstrip(".")
        return text if float(text) == value else repr(value)
    return str(value)


@register.filter
def reasoning(turn):
    """(reasoning, answer) of an assistant turn from a model that thinks, else None (see playground.selectors)."""
    from playground.selectors import reasoning_parts

    return reasoning_parts(turn)


@register.filter
def json_attr(value) -> str:
    """A value as JSON for a data- attribute (autoescaping quotes it): data the page's script reads."""
    import json

    return json.dumps(value)
