"""Structured outputs and tool calls: the grammars the sampler enforces, and reading calls back.

Grammars are llguidance grammars (JSON text; see serving/controls.py for why llguidance). They are
built here, on the web side, from an OpenAI `response_format` or `tools` + `tool_choice`, and
travel to the engine in SamplingParams.grammar, which compiles one matcher per row.

Tool calls follow the JSON convention of Llama 3.1's template (vLLM's `llama3_json` parser): the
assistant answers with `{"name": ..., "arguments": {...}}` (Llama's own `"parameters"` is read
too). A chat template that does not render tools gets them as a system message (`tools_prompt`).
No Django, no torch.
"""
from __future__ import annotations

import json
import uuid

# Compact JSON: one space after ':' and ',' and no other whitespace. A small model left free to
# choose whitespace can pad forever; with fixed separators every token moves the JSON forward.
JSON_STYLE = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}
ANY_OBJECT = {"type": "object"}


def json_grammar(schema: dict | None) -> str:
    """The grammar of one JSON value following `schema` (None: any JSON object, OpenAI's
    json_object mode). Objects that do not say whether they allow other properties get
    `additionalProperties: false`, as OpenAI's strict mode requires: a small model left free to add
    keys can invent them until max_tokens."""
    import llguidance

    schema = closed(schema if schema is not None else ANY_OBJECT)
    return llguidance.LLMatcher.grammar_from_json_schema(schema, overrides=JSON_STYLE)


def closed(schema):
    """`schema` with additionalProperties: false on every object schema that lists properties and
    leaves additionalProperties unsaid."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if isinstance(schema.get("properties"), dict) and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    return out


def grammar_error(grammar: str) -> str:
    """'' when the grammar compiles, else llguidance's reason (for a 400 before the engine)."""
    import llguidance

    try:
        return llguidance.LLMatcher.validate_grammar(grammar) or ""
    except (ValueError, TypeError) as e:
        return str(e)


def tool_call_schema(tools: list[dict], name: str | None = None) -> dict:
    """JSON schema of one call of any of `tools` (or of the one named `name`)."""
    options = []
    for tool in tools:
        function = tool["function"]
        if name is not None and function["name"] != name:
            continue
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        options.append({"type": "object", "properties": {"name": {"const": function["name"]}, "arguments": parameters},
                        "required": ["name", "arguments"], "additionalProperties": False})
    return options[0] if len(options) == 1 else {"anyOf": options}


def tools_prompt(tools: list[dict]) -> str:
    """A system message that describes `tools`, for chat templates that do not render them."""
    listed = "\n".join(json.dumps(tool["function"], ensure_ascii=False) for tool in tools)
    return ("You can call these functions:\n" + listed + "\n\nTo call one, answer with only a JSON object "
            '{"name": <function name>, "arguments": <object of arguments>} and nothing else.')


def parse_tool_call(text: str, tools: list[dict]) -> dict | None:
    """The call in `text` when the whole text is one JSON call of a known tool, else None.

    Returns an OpenAI tool call: {"id", "type": "function", "function": {"name", "arguments"}} with
    the arguments as a JSON string."""
    try:
        value = json.loads(text.strip())
    except ValueError:
        return None
    names = {tool["function"]["name"] for tool in tools}
    if not isinstance(value, dict) or value.get("name") not in names:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if not isinstance(arguments, dict):
        return None
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": value["name"], "arguments": json.dumps(arguments, ensure_ascii=False)}}


def template_messages(messages: list[dict], tools: list[dict], template: str) -> tuple[list[dict], list[dict] | None]:
    """(messages, tools) as the chat template should see them.

    A template that mentions tools gets them and the messages as they are (assistant `tool_calls`,
    `tool` messages). Otherwise tools become a system message, an assistant's calls become its
    JSON text and a tool result a user message that names the call it answers."""
    if "tool" in template:
        return messages, (tools or None)
    out = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            calls = [{"name": c["function"]["name"], "arguments": _arguments(c["function"].get("arguments"))}
                     for c in m["tool_calls"]]
            text = "\n".join(json.dumps(c, ensure_ascii=False) for c in calls)
            out.append({"role": "assistant", "content": ((m.get("content") or "") + "\n" + text).strip()})
        elif m["role"] == "tool":
            out.append({"role": "user", "content": f"Result of the function call {m.get('tool_call_id', '')}: "
                                                   f"{m.get('content') or ''}"})
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    if tools:
        prompt = tools_prompt(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + prompt}
        else:
            out.insert(0, {"role": "system", "content": prompt})
    return out, None


def _arguments(raw) -> object:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw if raw is not None else {}
