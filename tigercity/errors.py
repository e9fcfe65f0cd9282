"""Domain errors raised by services and selectors. The one exception handler maps each to the v1 error object."""


class ApiError(Exception):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None, headers=None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}
        if code:
            self.code = code


class InvalidRequest(ApiError):
    pass


class NotFound(ApiError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class Forbidden(ApiError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class Conflict(ApiError):
    status = 409
    type = "conflict_error"
    code = "conflict"


class RateLimited(ApiError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limited"


class Unavailable(ApiError):
    status = 503
    type = "server_error"
    code = "unavailable"
