"""Dataset files: every line validated, errors name the line, the field and why."""
import json

import pytest

from inference.engine.training.examples import DatasetError, PreferenceExample, SupervisedExample, parse_jsonl

SFT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
PREF = {"input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}]}


def lines(*objs) -> bytes:
    return "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs).encode()


def with_(base, path, value):
    obj = json.loads(json.dumps(base))
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


def test_supervised_and_preference_files_parse():
    kind, examples = parse_jsonl(lines(SFT, SFT) + b"\n\n", max_lines=10)
    assert kind == "supervised" and len(examples) == 2 and isinstance(examples[0], SupervisedExample)
    assert examples[0].targets == (False, True)
    kind, examples = parse_jsonl(lines(PREF), max_lines=10)
    assert kind == "preference" and examples[0] == PreferenceExample(({"role": "user", "content": "Hi"},), "Hello!", "Go away.")


BAD = {
    "not json": (b"{oops", ""),
    "not an object": (lines([1, 2]), ""),
    "NaN": (b'{"messages": NaN}', ""),
    "no messages": (lines({"prompt": "x"}), ""),
    "messages not a list": (lines({"messages": "hi"}), "messages"),
    "empty messages": (lines({"messages": []}), "messages"),
    "message not an object": (lines({"messages": ["hi"]}), "messages[0]"),
    "wrong role": (lines(with_(SFT, ["messages", 0, "role"], "bot")), "messages[0].role"),
    "missing content": (lines(with_(SFT, ["messages", 1, "content"], KeyError)), "messages[1].content"),
    "content not a string": (lines(with_(SFT, ["messages", 1, "content"], 5)), "messages[1].content"),
    "empty content": (lines(with_(SFT, ["messages", 1, "content"], "  ")), "messages[1].content"),
    "no assistant": (lines({"messages": [{"role": "user", "content": "Hi"}]}), "messages"),
    "all weight 0": (lines(with_(SFT, ["messages", 1, "weight"], 0)), "messages"),
    "weight 0.5": (lines(with_(SFT, ["messages", 1, "weight"], 0.5)), "messages[1].weight"),
    "weight on user": (lines(with_(SFT, ["messages", 0, "weight"], 1)), "messages[0].weight"),
    "no user": (lines({"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}), "messages"),
    "unknown field": (lines(with_(SFT, ["extra"], 1)), ""),
    "unknown message field": (lines(with_(SFT, ["messages", 0, "tool"], 1)), "messages[0]"),
    "missing preferred": (lines(with_(PREF, ["preferred_output"], KeyError)), "preferred_output"),
    "missing non-preferred": (lines(with_(PREF, ["non_preferred_output"], KeyError)), "non_preferred_output"),
    "two preferred": (lines(with_(PREF, ["preferred_output"], PREF["preferred_output"] * 2)), "preferred_output"),
    "preferred by user": (lines(with_(PREF, ["preferred_output", 0, "role"], "user")), "preferred_output[0].role"),
    "same outputs": (lines(with_(PREF, ["non_preferred_output"], PREF["preferred_output"])), "non_preferred_output"),
    "input ends with assistant": (lines(with_(PREF, ["input", "messages"], SFT["messages"])), "input.messages[1].role"),
    "input not an object": (lines(with_(PREF, ["input"], [])), "input"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_line_is_named_with_its_field_and_reason(case):
    bad, field = BAD[case]
    with pytest.raises(DatasetError) as caught:
        parse_jsonl(lines(SFT if b"input" not in bad else PREF) + b"\n" + bad, max_lines=10)
    error = caught.value.errors[0]
    assert (error.line, error.field) == (2, field), str(caught.value)
    assert str(caught.value).startswith(f"line 2{', ' + field if field else ''}: ")


def test_whole_file_problems():
    for data, message in [(b"", "empty"), (b"\n \n", "empty"), (b'{"messages": "\xff"}', "not UTF-8"),
                          (lines(SFT, PREF), "preference example in a file of supervised")]:
        with pytest.raises(DatasetError, match=message):
            parse_jsonl(data, max_lines=10)
    with pytest.raises(DatasetError, match="more than 2 examples"):
        parse_jsonl(lines(SFT, SFT, SFT), max_lines=2)


def test_every_bad_line_is_counted_and_the_first_ones_are_shown():
    with pytest.raises(DatasetError) as caught:
        parse_jsonl(lines(SFT, *(["{"] * 8)), max_lines=100)
    assert caught.value.total == 8 and [e.line for e in caught.value.errors] == [2, 3, 4, 5, 6]
    assert "(and 3 more)" in str(caught.value)
