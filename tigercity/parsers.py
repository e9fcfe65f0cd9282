"""The JSON parser of the DRF views: DRF's, with a body nested too deeply for Python's parser (thousands of
"[") answered as a 400 like any other malformed body, not a RecursionError and a 500."""
from rest_framework import exceptions, parsers

NESTED_TOO_DEEP = "The body is not valid JSON: it is nested too deeply."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(NESTED_TOO_DEEP) from None
