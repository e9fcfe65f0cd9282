"""The chat in a real browser, past the main journey (tests/playground/test_browser.py): the live token count
and the refusal of a message that cannot fit, and a reload while an answer is being written.

Same launch options and live server as the main journey; screenshots at 1280 px and 390 px in
artifacts/screenshots/. Run with `pytest -m browser tests/playground`.
"""
import re

import pytest

from tests.playground.test_browser import browser, live, page, shoot  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

PASSWORD = "a-long-pass-phrase-42"
COUNT = re.compile(r"^(\d+) / (\d+) tokens")


def sign_up(page, url: str, name: str) -> None:
    page.goto(f"{url}/signup/")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{url}/chat/")


def counted(page, draft: str) -> str:
    """Type `draft` and wait until the count under the message box is the one for it (the server's)."""
    box = page.get_by_label("Message", exact=True)
    box.fill(draft)
    page.wait_for_function("(draft) => { const c = document.getElementById('token-count');"
                           " return c.textContent && document.getElementById('composer-input').value === draft"
                           " && c.dataset.draft === draft; }", arg=draft)
    return page.locator("#token-count").inner_text()


def test_the_token_count_follows_the_draft_and_a_message_that_cannot_fit_is_refused(live, page):  # noqa: F811
    url = live.url
    sign_up(page, url, "lin")
    page.goto(f"{url}/chat/?model=llama-3.1-8b")
    short = COUNT.match(counted(page, "What is the capital of France?"))
    assert short, page.locator("#token-count").inner_text()
    tokens, context = int(short.group(1)), int(short.group(2))
    assert 0 < tokens < context
    longer = COUNT.match(counted(page, "What is the capital of France? And of Spain, Italy and Poland?"))
    assert int(longer.group(1)) > tokens and int(longer.group(2)) == context
    shoot(page, "20-chat-token-count")

    # A message longer than the whole context: said under the box, and Send saves nothing.
    too_long = "tiger " * (context + 10)
    refusal = counted(page, too_long)
    assert refusal.startswith("This message is ") and f"context is {context} tokens" in refusal
    assert "is-over" in page.locator("#token-count").get_attribute("class")
    page.get_by_label("Message", exact=True).press("Enter")
    assert page.locator("#stop-button").is_hidden()
    assert page.url == f"{url}/chat/?model=llama-3.1-8b" and not page.locator("article.turn").count()
    assert page.get_by_label("Message", exact=True).input_value() == too_long
    shoot(page, "20b-chat-too-long")

    # Shortened, it is sent; the count then covers the conversation so far as well.
    alone = int(COUNT.match(counted(page, "Name a colour.")).group(1))
    page.get_by_label("Message", exact=True).press("Enter")
    page.locator("article.turn--assistant[id^=turn-], .turn--failed .alert").first.wait_for(timeout=180_000)
    assert not page.locator(".turn--failed").count()
    assert int(COUNT.match(counted(page, "Name a colour.")).group(1)) > alone
    assert not page.errors, page.errors


def test_a_page_reloaded_while_the_answer_is_written_follows_it_to_the_end(live, page):  # noqa: F811
    # The server holds the answer after its first token (a hold point, tigercity/failpoints.py) until the test
    # releases it, so the reload happens while the answer is being written, however fast the machine.
    url = live.url
    sign_up(page, url, "mae")
    page.goto(f"{url}/chat/?model=llama-3.1-8b")
    page.get_by_text("Settings").click()
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max tokens").fill("32")
    live.arm("stream_hold_after_first_token")
    page.get_by_label("Message", exact=True).fill("Tell me about tigers.")
    page.get_by_label("Message", exact=True).press("Enter")
    page.wait_for_function("() => (document.querySelector('article.is-streaming [data-stream]') || {}).textContent",
                           timeout=180_000)
    assert not live.armed("stream_hold_after_first_token")  # taken: this answer is held
    first = page.locator("article.is-streaming [data-stream]").text_content()
    page.wait_for_url(re.compile(r"/chat/\d+/$"))
    conversation_url = page.url

    page.reload()
    # The reloaded page follows the same answer: what was written so far, then Stop and busy as before.
    page.wait_for_function("(first) => { const s = document.querySelector('article.is-streaming [data-stream]');"
                           " return s && s.textContent === first; }", arg=first)
    assert "rev 0" in page.locator("article.is-streaming .turn__who").inner_text()
    assert not page.locator("[data-interrupted]").count()
    assert page.get_by_role("button", name="Stop").is_visible()
    assert page.get_by_label("Max tokens").input_value() == "32"
    shoot(page, "21-chat-reattached")

    live.arm("stream_release_hold")  # the rest of the answer arrives in the reloaded page, which saves it
    page.wait_for_function("() => document.querySelectorAll('article.turn--assistant[id^=turn-]').length === 1"
                           " && !document.querySelector('article.is-streaming')")
    saved = page.locator("article.turn--assistant[id^=turn-] [data-content]").inner_text()
    assert saved.startswith(first.strip()) and len(saved) > len(first.strip()), (first, saved)
    assert page.get_by_role("button", name="Send", exact=True).is_enabled()
    page.goto(conversation_url)
    assert page.locator("article.turn--assistant[id^=turn-] [data-content]").inner_text() == saved
    assert not page.locator("[data-interrupted]").count()
    shoot(page, "21b-chat-reattached-saved")
    assert not page.errors, page.errors
