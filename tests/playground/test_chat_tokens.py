"""The chat's live token count (POST /chat/count/) and the refusal of a message that cannot fit.

The runtime is tests/fakes.FakeRuntime (conftest.counting: a token per word, a context of 1024), so the
counts are known exactly; the real count runs in the browser test (tests/playground/test_browser_chat.py).
"""
import pytest
from django.test import Client

from playground.models import Conversation, Message

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def conversation(owner, *turns):
    found = Conversation.objects.create(owner=owner, title="Counting", model="llama-3.1-8b")
    for role, content in turns:
        Message.objects.create(conversation=found, role=role, content=content)
    return found


def test_the_count_is_the_conversation_and_the_draft_against_the_context(web, alice):
    chat = conversation(alice, ("user", "one two three"), ("assistant", "four five"))
    counted = web.post("/chat/count/", {"conversation": chat.pk, "model": "llama-3.1-8b",
                                        "system_prompt": "be brief", "content": "six seven"}, headers=HTMX)
    assert counted.status_code == 200
    assert counted.json() == {"tokens": 9, "minimum": 4, "context": 1024, "fits": True, "drops_turns": False}
    new = web.post("/chat/count/", {"conversation": "", "model": "llama-3.1-8b", "content": "just this"})
    assert new.json()["tokens"] == 2 and new.json()["minimum"] == 2


def test_a_long_history_is_said_to_drop_turns_and_a_long_message_is_refused(web, alice):
    chat = conversation(alice, ("user", "word " * 1000), ("assistant", "ok"))
    dropping = web.post("/chat/count/", {"conversation": chat.pk, "model": "llama-3.1-8b", "content": "more " * 30})
    assert dropping.json()["drops_turns"] is True and dropping.json()["fits"] is True
    refused = web.post("/chat/count/", {"conversation": chat.pk, "model": "llama-3.1-8b", "content": "word " * 1030})
    assert refused.json()["fits"] is False
    assert refused.json()["refusal"].startswith("This message is 1030 tokens with the system prompt, but "
                                                "Llama-3.1-8b's context is 1024 tokens")


def test_sending_a_message_that_cannot_fit_is_refused_before_anything_is_saved(web, alice):
    sent = web.post("/chat/send/", {"model": "llama-3.1-8b", "content": "word " * 1024}, headers=HTMX)
    assert sent.status_code == 400
    assert "1024 tokens with the system prompt" in sent.json()["errors"]["content"]
    assert not Conversation.objects.exists() and not Message.objects.exists()
    assert web.post("/chat/send/", {"model": "llama-3.1-8b", "content": "word " * 1023}).status_code == 200


def test_counting_checks_its_inputs_and_owners(web, bob, settings):
    others = conversation(bob, ("user", "secret"))
    assert web.post("/chat/count/", {"conversation": others.pk, "model": "llama-3.1-8b", "content": "hi"}).status_code == 404
    assert web.post("/chat/count/", {"model": "nope", "content": "hi"}).status_code == 404
    settings.TIGER = {**settings.TIGER, "MAX_MESSAGE_CHARS": 10}
    long = web.post("/chat/count/", {"model": "llama-3.1-8b", "content": "x" * 11})
    assert long.status_code == 400 and "the limit is 10" in long.json()["error"]
    system = web.post("/chat/count/", {"model": "llama-3.1-8b", "content": "hi", "system_prompt": "y" * 11})
    assert system.status_code == 400
    assert web.get("/chat/count/").status_code == 405
    assert Client().post("/chat/count/", {"model": "llama-3.1-8b", "content": "hi"}, headers=HTMX).status_code == 401
