"""Prompt rendering through the checkpoint's own chat template."""
from __future__ import annotations

import logging
from collections.abc import Sequence

from .structured import template_messages

logger = logging.getLogger(__name__)


def render_prompt(tokenizer, messages: Sequence[dict], tools: Sequence[dict] = ()) -> list[int]:
    """Token ids of `messages` followed by the assistant header the model continues from.

    Special tokens typed by a user (say "<|eot_id|>" in a message) are encoded as plain text, so a
    message can never forge a turn boundary. The template writes BOS itself, so the tokenizer must
    not add another one (apply_chat_template encodes with add_special_tokens=False).
    `tools` (OpenAI function tools) go to a template that renders them, else into a system message."""
    conversation, template_tools = template_messages(
        [dict(m) for m in messages], list(tools), tokenizer.chat_template or "")
    extra = {"tools": template_tools} if template_tools else {}
    try:
        ids = tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=True, return_dict=False,
            sanitize_control_tokens=True, **extra,
        )
    except NotImplementedError as e:  # a tokenizer whose post-processor adds specials: no sanitising
        logger.warning("chat control tokens are not sanitised for this tokenizer: %s", e)
        ids = tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=True, return_dict=False, **extra
        )
    ids = [int(i) for i in ids]
    bos = getattr(tokenizer, "bos_token_id", None)
    assert not (bos is not None and ids[:2] == [bos, bos]), "the prompt starts with two BOS tokens"
    return ids
