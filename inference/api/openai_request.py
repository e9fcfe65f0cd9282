"""OpenAI request bodies -> validated generation data (the fields `generation_request_build` reads).

One rule for OpenAI's request fields (docs/api.md, OpenAI compatibility):
- implemented: they change the output as OpenAI documents (IMPLEMENTED below);
- ignored: OpenAI's own semantics make them hints or bookkeeping that cannot change a completion
  here (IGNORED);
- refused: anything else OpenAI defines is a 400 naming the field, `unsupported_parameter`, unless
  it holds its default (REFUSED);
- a field OpenAI does not define is a 400 `unknown_parameter`, as OpenAI answers it.
"""
from django.conf import settings

from inference.engine import structured
from tigercity.errors import InvalidRequest

CHAT_IMPLEMENTED = {
    "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "n",
    "stream", "stream_options", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty",
    "logit_bias", "response_format", "tools", "tool_choice",
}
COMPLETION_IMPLEMENTED = {
    "model", "prompt", "temperature", "top_p", "max_tokens", "stop", "seed", "n", "stream", "stream_options",
    "logprobs", "presence_penalty", "frequency_penalty", "logit_bias", "echo", "suffix", "best_of", "user",
}
IGNORED = {"user", "metadata", "store", "parallel_tool_calls", "reasoning_effort", "service_tier",
           "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "verbosity"}
# field -> the values that mean "off" (accepted); any other value is refused.
REFUSED = {"audio": (None,), "modalities": (None, ["text"]), "prediction": (None,), "web_search_options": (None,),
           "functions": (None,), "function_call": (None,)}
ROLES = {"system", "developer", "user", "assistant", "tool"}


def check_fields(body: dict, implemented: set[str]) -> None:
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.", code="invalid_value")
    for key, value in body.items():
        if key in implemented or key in IGNORED:
            continue
        if key in REFUSED:
            if value in REFUSED[key]:
                continue
            raise InvalidRequest(f"{key} is not supported by this server.", param=key, code="unsupported_parameter")
        raise InvalidRequest(f"Unrecognized request argument supplied: {key}", param=key, code="unknown_parameter")


def chat_data(body: dict) -> dict:
    """The generation data of a chat.completions body (raises InvalidRequest naming the field)."""
    check_fields(body, CHAT_IMPLEMENTED)
    data = _common(body)
    data["messages"] = _messages(body.get("messages"))
    tools = _tools(body.get("tools"))
    choice = _tool_choice(body.get("tool_choice"), tools)
    data["tools"] = tools if choice != "none" else []
    data["tool_choice"] = choice
    if body.get("logprobs") not in (None, False, True):
        raise InvalidRequest("logprobs must be a boolean.", param="logprobs", code="invalid_type")
    top = body.get("top_logprobs")
    if top is not None:
        _int(top, "top_logprobs", 0, 20)
        if not body.get("logprobs"):
            raise InvalidRequest("top_logprobs needs logprobs: true.", param="top_logprobs", code="invalid_value")
    data["logprobs"] = (top or 0) if body.get("logprobs") else None
    data["response_format"] = _response_format(body.get("response_format"))
    if data["response_format"] is not None and (choice == "required" or isinstance(choice, dict)):
        raise InvalidRequest("response_format cannot be combined with a forced tool_choice.",
                             param="response_format", code="invalid_value")
    if body.get("max_completion_tokens") is not None:
        data["max_tokens"] = _int(body["max_completion_tokens"], "max_completion_tokens", 1, 1_000_000)
    data["include_usage"] = _include_usage(body.get("stream_options"))
    return data


def completion_data(body: dict) -> dict:
    """The generation data of a legacy completions body; `prompts` holds one string per prompt."""
    check_fields(body, COMPLETION_IMPLEMENTED)
    data = _common(body)
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise InvalidRequest("prompt must be a string or a non-empty list of strings (token arrays are not supported).",
                             param="prompt", code="invalid_type")
    if len(prompts) > 16:
        raise InvalidRequest(f"prompt has {len(prompts)} items; the limit is 16.", param="prompt", code="out_of_range")
    for p in prompts:
        if not p:
            raise InvalidRequest("prompt must not be empty.", param="prompt", code="invalid_value")
        _check_length(p, "prompt")
    data["prompts"] = prompts
    logprobs = body.get("logprobs")
    data["logprobs"] = None if logprobs is None else _int(logprobs, "logprobs", 0, 5)
    if body.get("echo") not in (None, False):
        raise InvalidRequest("echo is not supported by this server.", param="echo", code="unsupported_parameter")
    if body.get("suffix") not in (None, ""):
        raise InvalidRequest("suffix is not supported by this server.", param="suffix", code="unsupported_parameter")
    if body.get("best_of") not in (None, 1, body.get("n", 1)):
        raise InvalidRequest("best_of is not supported by this server (only equal to n).", param="best_of",
                             code="unsupported_parameter")
    data["include_usage"] = _include_usage(body.get("stream_options"))
    data["tools"], data["tool_choice"], data["response_format"] = [], "none", None
    return data


def _include_usage(stream_options) -> bool:
    """OpenAI's stream_options: null, or an object whose include_usage is a boolean."""
    if stream_options is None:
        return False
    if not isinstance(stream_options, dict) or not isinstance(stream_options.get("include_usage", False), bool):
        raise InvalidRequest("stream_options must be an object like {\"include_usage\": true}.",
                             param="stream_options", code="invalid_value")
    return stream_options.get("include_usage", False)


def _common(body: dict) -> dict:
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > 128:
        raise InvalidRequest("model must be a model id (a string of 1-128 characters).", param="model",
                             code="invalid_value")
    data = {"model": model}
    if body.get("temperature") is not None:
        data["temperature"] = _number(body["temperature"], "temperature", 0, 2)
    if body.get("top_p") is not None:
        # top_p 0 keeps only the most likely token, as the smallest top_p the sampler takes does
        data["top_p"] = max(_number(body["top_p"], "top_p", 0, 1), 1e-9)
    if body.get("max_tokens") is not None:
        data["max_tokens"] = _int(body["max_tokens"], "max_tokens", 1, 1_000_000)
    if body.get("n") is not None:
        data["n"] = _int(body["n"], "n", 1, 16)
    if body.get("seed") is not None:
        data["seed"] = _int(body["seed"], "seed", -2**63, 2**64 - 1) % 2**63  # any int OpenAI takes
    stream = body.get("stream")
    if stream not in (None, True, False):
        raise InvalidRequest("stream must be a boolean.", param="stream", code="invalid_type")
    data["stream"] = bool(stream)
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else (stop or [])
    if not isinstance(stops, list) or len(stops) > 8 or not all(isinstance(s, str) and 1 <= len(s) <= 64 for s in stops):
        raise InvalidRequest("stop must be a string or a list of at most 8 strings of 1-64 characters.",
                             param="stop", code="invalid_value")
    data["stop"] = stops
    for name in ("presence_penalty", "frequency_penalty"):
        data[name] = _number(body.get(name) or 0, name, -2, 2)
    bias = body.get("logit_bias") or {}
    if not isinstance(bias, dict) or len(bias) > 300:
        raise InvalidRequest("logit_bias must map at most 300 token ids to numbers.", param="logit_bias",
                             code="invalid_value")
    pairs = []
    for token, value in bias.items():
        if not str(token).isdigit():
            raise InvalidRequest(f"logit_bias keys are token ids; got {token!r}.", param="logit_bias",
                                 code="invalid_value")
        pairs.append((int(token), _number(value, "logit_bias", -100, 100)))
    data["logit_bias"] = pairs
    return data


def _messages(messages) -> list[dict]:
    limit = settings.TIGER["MAX_MESSAGES"]
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list.", param="messages", code="invalid_value")
    if len(messages) > limit:
        raise InvalidRequest(f"messages has {len(messages)} items; the limit is {limit}.", param="messages",
                             code="out_of_range")
    out = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise InvalidRequest(f"{where}.role must be one of {sorted(ROLES)}.", param=f"{where}.role",
                                 code="invalid_value")
        role = "system" if m["role"] == "developer" else m["role"]
        calls = m.get("tool_calls") if role == "assistant" else None
        content = _content(m.get("content"), f"{where}.content", optional=role == "assistant" and bool(calls))
        message = {"role": role, "content": content}
        if calls:
            message["tool_calls"] = _tool_calls(calls, f"{where}.tool_calls")
        if role == "tool":
            message["tool_call_id"] = str(m.get("tool_call_id") or "")[:128]
        out.append(message)
    return out


def _content(content, where: str, optional: bool) -> str:
    """OpenAI allows content as a list of parts; only text parts mean something to a text model."""
    if content is None and optional:
        return ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InvalidRequest("Only text content parts are supported.", param=where, code="invalid_value")
            texts.append(part["text"])
        content = "".join(texts)
    if not isinstance(content, str):
        raise InvalidRequest(f"{where} must be a string or a list of text parts.", param=where, code="invalid_type")
    _check_length(content, where)
    return content


def _check_length(text: str, where: str) -> None:
    limit = settings.TIGER["MAX_MESSAGE_CHARS"]
    if len(text) > limit:
        raise InvalidRequest(f"{where} is {len(text)} characters long; the limit is {limit}.", param=where,
                             code="out_of_range")


def _tool_calls(calls, where: str) -> list[dict]:
    if not isinstance(calls, list) or len(calls) > 16:
        raise InvalidRequest(f"{where} must be a list of at most 16 calls.", param=where, code="invalid_value")
    out = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(f"{where}: each call needs function.name.", param=where, code="invalid_value")
        arguments = function.get("arguments") or "{}"
        if not isinstance(arguments, str):
            raise InvalidRequest(f"{where}: function.arguments must be a JSON string.", param=where,
                                 code="invalid_type")
        _check_length(arguments, where)
        out.append({"id": str(call.get("id") or "")[:128], "type": "function",
                    "function": {"name": function["name"][:64], "arguments": arguments}})
    return out


def _tools(tools) -> list[dict]:
    if tools is None:
        return []
    if not isinstance(tools, list) or len(tools) > 64:
        raise InvalidRequest("tools must be a list of at most 64 tools.", param="tools", code="invalid_value")
    out = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            raise InvalidRequest(f"tools[{i}] must be {{\"type\": \"function\", \"function\": {{...}}}}.",
                                 param=f"tools[{i}]", code="invalid_value")
        name = function.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise InvalidRequest(f"tools[{i}].function.name must be a string of 1-64 characters.",
                                 param=f"tools[{i}].function.name", code="invalid_value")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict):
            raise InvalidRequest(f"tools[{i}].function.parameters must be a JSON schema object.",
                                 param=f"tools[{i}].function.parameters", code="invalid_type")
        entry = {"name": name, "parameters": parameters}
        if isinstance(function.get("description"), str):
            entry["description"] = function["description"][:2000]
        out.append({"type": "function", "function": entry})
    return out


def _tool_choice(choice, tools: list[dict]):
    """'none', 'auto', 'required' or the name of the one tool to call."""
    if choice is None:
        return "auto" if tools else "none"
    if choice in ("none", "auto", "required"):
        if choice == "required" and not tools:
            raise InvalidRequest("tool_choice 'required' needs tools.", param="tool_choice", code="invalid_value")
        return choice
    name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str) or name not in {t["function"]["name"] for t in tools}:
        raise InvalidRequest("tool_choice must be 'none', 'auto', 'required' or "
                             "{\"type\": \"function\", \"function\": {\"name\": <one of tools>}}.",
                             param="tool_choice", code="invalid_value")
    return {"name": name}


def _response_format(fmt):
    """None (text), or the JSON schema the answer must follow ({} for json_object)."""
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return structured.ANY_OBJECT
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidRequest("response_format.json_schema.schema must be a JSON schema object.",
                                 param="response_format", code="invalid_value")
        return schema
    raise InvalidRequest("response_format.type must be 'text', 'json_object' or 'json_schema'.",
                         param="response_format", code="invalid_value")


def _number(value, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be a number from {low} to {high}; got {value!r}.", param=name,
                             code="out_of_range")
    return float(value)


def _int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}; got {value!r}.", param=name,
                             code="out_of_range")
    return value
