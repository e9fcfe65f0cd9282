"""How much of a model's context a chat message would take, counted by the engine.

The conversation so far, the system prompt and the draft are rendered with the base model's chat template
and counted with its tokenizer (runtime.count_prompt_tokens), so the count is the prompt the model would see.
The chat leaves the oldest turns out when the conversation outgrows the context (static/playground/chat.js),
so only the system prompt and the draft itself must fit: that is what refuses a message before it is sent.
"""
from dataclasses import dataclass

from inference.model_interface import ModelInterface
from inference.runtime import get_runtime


@dataclass(frozen=True)
class PromptFit:
    tokens: int  # the whole conversation with the draft, as the model would see it
    minimum: int  # the system prompt and the draft alone: what is left once every older turn is left out
    context: int  # the base model's context length (prompt and answer together)

    @property
    def fits(self) -> bool:
        """At least one token is left for the answer once the older turns are left out."""
        return self.minimum < self.context

    @property
    def drops_turns(self) -> bool:
        """The whole conversation does not fit: the oldest turns will be left out."""
        return self.tokens >= self.context

    def as_json(self) -> dict:
        return {"tokens": self.tokens, "minimum": self.minimum, "context": self.context, "fits": self.fits,
                "drops_turns": self.drops_turns}


def prompt_fit(*, model: ModelInterface, system_prompt: str, history: list[dict], draft: str) -> PromptFit:
    """Count `history` (earlier turns, oldest first) + `draft` for `model` (blocking: the engine counts)."""
    runtime = get_runtime()
    system = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    message = [{"role": "user", "content": draft}]
    minimum = runtime.count_prompt_tokens(model.base_name, system + message)
    tokens = runtime.count_prompt_tokens(model.base_name, system + history + message) if history else minimum
    return PromptFit(tokens=tokens, minimum=minimum, context=runtime.context_length(model.base_name))


def too_long(fit: PromptFit, *, model_name: str) -> str:
    """Why a message that does not fit is refused, in the words shown under the message box."""
    return (f"This message is {fit.minimum} tokens with the system prompt, but {model_name}'s context is "
            f"{fit.context} tokens (the answer needs at least one). Shorten it.")
