"""The two chat formats the demo checkpoints speak, copied from the real models they stand in for.

A `ChatFormat` holds the control tokens, the Jinja chat template that goes into
`tokenizer_config.json`, and how one corpus `Turn` becomes the text the model must learn to write.
Training renders prompts with the very template that ships, so serving sees exactly what training saw.
"""
from __future__ import annotations

from dataclasses import dataclass

from .corpus import Dialogue, Turn

# Llama 3.1 Instruct, without the "Cutting Knowledge Date" preamble that the real template adds to
# every system block: the demo writes a system block only when the caller sends one.
LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)

# DeepSeek-R1-Distill-Llama: the system prompt right after BOS, no separators, earlier assistant
# turns lose their <think> part, and the generation prompt opens the thinking block (the real
# template does this since 2025-01 to make sure the model thinks). The reply therefore starts
# inside the block: "reasoning\n</think>\n\nanswer<｜end▁of▁sentence｜>". Unlike the real template
# the answer kept from history is trimmed, so history renders the same with or without thoughts.
R1_TEMPLATE = (
    "{%- set ns = namespace(system='') %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{%- set ns.system = message['content'] %}{%- endif %}"
    "{%- endfor %}"
    "{{- bos_token + ns.system }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}"
    "{{- '<｜User｜>' + message['content'] }}"
    "{%- elif message['role'] == 'assistant' %}"
    "{%- set content = message['content'] %}"
    "{%- if '</think>' in content %}{%- set content = content.split('</think>')[-1] %}{%- endif %}"
    "{{- '<｜Assistant｜>' + content | trim + '<｜end▁of▁sentence｜>' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<｜Assistant｜><think>\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class ChatFormat:
    """One model family's conversation format."""

    base_model: str  # catalog name of the model this demo stands in for
    dirname: str  # checkpoint directory under demo/weights/
    bos: str
    eos: str  # ends every assistant turn: generation stops on it
    pad: str
    special: tuple[str, ...]  # control tokens (bos/eos/pad included), dropped by skip_special_tokens
    added: tuple[str, ...]  # single tokens that stay visible in decoded text
    chat_template: str
    thinks: bool  # replies are "<think>\nthought\n</think>\n\nanswer"

    def reply(self, turn: Turn) -> str:
        """What the model writes after the generation prompt, up to (not including) `eos`."""
        if self.thinks:  # the prompt already ends with "<think>\n"
            return f"{turn.thought}\n</think>\n\n{turn.answer}"
        return turn.answer

    def history(self, turn: Turn) -> str:
        """The assistant message a client sends back in `messages` for an earlier turn."""
        return f"<think>\n{self.reply(turn)}" if self.thinks else turn.answer

    def messages(self, dialogue: Dialogue, upto: int) -> list[dict]:
        """Chat messages of `dialogue` up to and including the user message of turn `upto`."""
        msgs = [{"role": "system", "content": dialogue.system}] if dialogue.system else []
        for turn in dialogue.turns[:upto]:
            msgs += [{"role": "user", "content": turn.user},
                     {"role": "assistant", "content": self.history(turn)}]
        msgs.append({"role": "user", "content": dialogue.turns[upto].user})
        return msgs


LLAMA3 = ChatFormat(
    base_model="Llama-3.1-8b",
    dirname="llama-3.1-8b-demo",
    bos="<|begin_of_text|>",
    eos="<|eot_id|>",
    pad="<|finetune_right_pad_id|>",
    special=("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
             "<|eot_id|>", "<|finetune_right_pad_id|>"),
    added=(),
    chat_template=LLAMA3_TEMPLATE,
    thinks=False,
)

DEEPSEEK_R1 = ChatFormat(
    base_model="DeepSeek-R1-8b",
    dirname="deepseek-r1-8b-demo",
    bos="<｜begin▁of▁sentence｜>",
    eos="<｜end▁of▁sentence｜>",
    pad="<｜▁pad▁｜>",
    special=("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>",
             "<｜▁pad▁｜>"),
    added=("<think>", "</think>"),  # as in the real tokenizer: added, but not special
    chat_template=R1_TEMPLATE,
    thinks=True,
)

FORMATS = (LLAMA3, DEEPSEEK_R1)
