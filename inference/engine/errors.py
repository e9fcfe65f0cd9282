"""Errors the engine raises. The web side maps each to one API error (status + code)."""


class EngineError(Exception):
    """Base class. `code` is the API error code the web side reports."""

    code = "engine_error"


class UnknownBaseModel(EngineError):
    code = "model_not_found"


class ContextLengthExceeded(EngineError):
    code = "context_length_exceeded"

    def __init__(self, prompt_tokens: int, context_length: int):
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length
        super().__init__(
            f"The prompt is {prompt_tokens} tokens long, but the model's context is "
            f"{context_length} tokens (and at least one token must be left to generate)."
        )

    def __reduce__(self):  # crosses the engine process's pipe (inference/engine/process.py)
        return type(self), (self.prompt_tokens, self.context_length)


class QueueFull(EngineError):
    code = "engine_overloaded"

    def __init__(self, waiting: int, limit: int):
        self.waiting = waiting
        self.limit = limit
        super().__init__(f"The engine has {waiting} requests waiting (limit {limit}); retry shortly.")

    def __reduce__(self):
        return type(self), (self.waiting, self.limit)


class AdapterLoadError(EngineError):
    code = "adapter_load_failed"


class PathNotAllowed(EngineError):
    """A request named an adapter path outside the engine's adapters directory (EngineConfig.adapters_root)."""

    code = "path_not_allowed"


class CheckpointError(EngineError):
    code = "checkpoint_invalid"


class EngineUnavailable(EngineError):
    """The engine is shutting down (or stopped): retry on another worker or later."""

    code = "engine_unavailable"


class FineTuneCancelled(EngineError):
    """A fine-tuning job stopped on request: nothing was written."""

    code = "cancelled"
