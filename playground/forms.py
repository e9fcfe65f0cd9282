"""Forms of the Playground. Model and training fields reuse the v1 API's serializers; this only turns
submitted strings into the JSON values those serializers expect."""
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)


def api_body(post, *, text=(), ints=(), floats=(), keep_blank=()) -> dict:
    """The submitted fields as a v1 JSON body.

    A blank field is left out, so the API's own default applies (except those in `keep_blank`, such as a
    description being cleared). A number that does not parse stays a string: the serializer then
    answers with its usual message ("A valid integer is required.").
    """
    body = {}
    for name in (*text, *ints, *floats):
        if name not in post:
            continue
        raw = post.get(name, "")
        value = raw.strip() if name not in text else raw
        if value.strip() == "" and name not in keep_blank:
            continue
        if name in ints:
            body[name] = _number(value, int)
        elif name in floats:
            body[name] = _number(value, float)
        else:
            body[name] = value
    return body


def _number(raw: str, kind):
    try:
        return kind(raw)
    except ValueError:
        if kind is int:
            try:
                as_float = float(raw)
            except ValueError:
                return raw
            return as_float  # 2.5 -> the serializer says a whole number is required
        return raw
