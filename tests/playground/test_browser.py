"""The Playground in a real browser: Debian's chromium driven by Playwright against a real server.

One user's whole journey, with a screenshot of every page at 1280 px and 390 px in
artifacts/screenshots/ (and a check that nothing overflows sideways at 390 px). Needs /usr/bin/chromium
and the engine's demo weights; run with `pytest -m browser tests/playground`.
"""
import json
import os
import re
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WIDTHS = (1280, 390)
PASSWORD = "a-long-pass-phrase-42"

# Records every state of the streaming answer(s): the text of each [data-stream] element after each change.
RECORD_STREAM = """() => {
  window.__states = [];
  const seen = new WeakSet();
  const observer = new MutationObserver(() => {
    document.querySelectorAll('[data-stream]').forEach((el, i) => window.__states.push([i, el.textContent]));
  });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A real server (migrate, then uvicorn on a free port) with its own data directory and SQLite database."""
    from tests.live_server import LiveServer

    holds = tmp_path_factory.mktemp("failpoints")
    server = LiveServer(tmp_path_factory.mktemp("browser"),
                        extra_env={"TIGER_SIGNUP": "1", "TIGER_FAILPOINT_DIR": str(holds)}).start()
    server.arm = lambda point: (holds / point).touch()
    server.armed = lambda point: (holds / point).exists()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    # Script errors only: the browser also logs the 4xx answers that carry inline validation messages.
    page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
            and page.errors.append(m.text))
    yield page
    context.close()


def shoot(page, name: str) -> None:
    """A full-page screenshot at each width; at the narrow one, nothing may stick out sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top of the picture
        page.wait_for_timeout(100)
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width}px is {overflow}px wider than the screen"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def go(page, section: str) -> None:
    """Follow a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=section, exact=True).click()


def stream_states(page) -> list[str]:
    return [text for index, text in page.evaluate("window.__states") if index == 0]


def assert_streamed(states: list[str], final: str) -> None:
    """The answer grew in several visible steps, each a prefix of the next, ending with the saved text."""
    distinct = [s for i, s in enumerate(states) if s and (i == 0 or s != states[i - 1])]
    assert len(set(distinct)) >= 3, f"expected several intermediate states, saw {distinct!r}"
    for before, after in zip(distinct, distinct[1:]):
        assert after.startswith(before), (before, after)
    assert final.startswith(distinct[-1]) and len(distinct[0]) < len(final)


def assert_in_view_above_composer(page, locator) -> None:
    """The element is on screen and not under the sticky message box."""
    box = locator.bounding_box()
    composer_top = page.evaluate("document.getElementById('composer').getBoundingClientRect().top")
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= composer_top, (box, composer_top)


def assert_dialog_readable(page, dialog) -> None:
    """A dialog opened from a table cell does not inherit the cell's no-wrap, right-aligned text."""
    style = dialog.evaluate("d => [getComputedStyle(d).whiteSpace, getComputedStyle(d).textAlign]")
    assert style == ["normal", "left"], style
    assert dialog.evaluate("d => d.scrollWidth <= d.clientWidth")


def test_a_new_user_signs_up_makes_a_key_and_a_model_chats_trains_and_revokes_the_key(live, page):
    url = live.url

    # Sign up (and the sign-in page on the way).
    page.goto(f"{url}/login/")
    shoot(page, "01-sign-in")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    shoot(page, "02-sign-up")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{url}/chat/")

    # An API key: the whole key once, in a dialog; gone after closing and after a reload.
    go(page, "API keys")
    shoot(page, "03-keys-empty")
    page.get_by_role("button", name="New key").click()
    page.get_by_label("Name").fill("browser test")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key").input_value()
    assert re.fullmatch(r"tc-[A-Za-z0-9_-]{43}", secret)
    assert page.get_by_text("it will not be shown again").is_visible()
    shoot(page, "04-key-created")
    page.get_by_role("button", name="Done, I have copied it").click()
    page.locator("#key-dialog").wait_for(state="hidden")
    assert secret not in page.content()
    page.reload()
    assert secret not in page.content()
    row = page.locator("#key-rows tr", has_text="browser test")
    assert secret[:11] in row.inner_text() and "active" in row.inner_text()
    assert httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    shoot(page, "05-keys")

    # A model: the API's validation message inline, then created.
    go(page, "Models")
    form = page.locator("[data-create-model]")
    form.get_by_label("Name").fill("Tiger Cub")
    form.get_by_label("Parent model").select_option("Llama-3.1-8b")
    form.get_by_label("Rank").fill("8")
    form.get_by_label("Rank").dispatch_event("change")
    assert form.get_by_label("Alpha").input_value() == "16"
    form.get_by_label("Dropout").fill("0.95")
    form.get_by_label("Learning rate").fill("0.002")
    form.get_by_role("button", name="Create model").click()
    error = page.locator("#create-dropout-error")
    assert error.inner_text() == "Ensure this value is less than or equal to 0.9."
    shoot(page, "06-models-error")
    page.locator("[data-create-model]").get_by_label("Dropout").fill("0.05")
    page.locator("[data-create-model]").get_by_role("button", name="Create model").click()
    page.get_by_text("Created Tiger Cub (id tiger-cub) at revision 0.").wait_for()
    assert "rev 0" in page.locator("tr", has_text="Tiger Cub").inner_text()
    shoot(page, "07-models")
    page.get_by_role("link", name="Tiger Cub", exact=True).click()
    shoot(page, "08-model-detail")
    page.goto(f"{url}/models/deepseek-r1-8b/")
    if not os.environ.get("TIGER_BASE_MODELS"):  # the built-in demo weights say so, with how to use real ones
        assert page.get_by_text("This server runs built-in demo weights").is_visible()
    shoot(page, "09-base-model")

    # Chat: the answer arrives token by token over the websocket.
    page.goto(f"{url}/chat/?model=tiger-cub")
    assert page.get_by_label("Model").input_value() == "tiger-cub"
    shoot(page, "10-chat-empty")
    page.get_by_text("Settings").click()
    page.get_by_label("Max tokens").fill("48")
    page.evaluate(RECORD_STREAM)
    page.get_by_label("Message", exact=True).fill("What is the capital of France?")
    page.get_by_label("Message", exact=True).press("Enter")
    page.locator("#stop-button").wait_for(state="visible")
    answer = page.locator("article.turn--assistant[id^=turn-]")
    page.locator("article.turn--assistant[id^=turn-], .turn--failed .alert").first.wait_for(timeout=180_000)  # the engine starts on first use
    assert not page.locator(".turn--failed").count(), page.locator(".turn--failed").inner_text()
    final = answer.locator("[data-content]").inner_text()
    assert_streamed(stream_states(page), final)
    assert re.search(r"/chat/\d+/$", page.url)
    assert page.locator("#conversation-list").get_by_text("What is the capital of France?").is_visible()
    shoot(page, "11-chat-answer")

    assert_in_view_above_composer(page, answer.get_by_role("button", name=re.compile("^Good answer")))

    # Thumbs up: trains the model at once and shows revision 1; Undo takes it back (revision 2 = revision 0),
    # and the answer can be rated again (revision 3).
    answer.get_by_role("button", name=re.compile("^Good answer")).click()
    answer.locator(".rating__done").wait_for()
    assert "revision 1" in answer.locator(".rating__done").inner_text()
    assert page.get_by_label("Model").locator("option:checked").inner_text() == "Tiger Cub (rev 1)"
    answer.get_by_role("button", name="Undo this rating").click()
    answer.locator("[data-undone]").wait_for()
    assert "back to the weights of revision 0, as revision 2" in answer.locator("[data-undone]").inner_text()
    assert page.get_by_label("Model").locator("option:checked").inner_text() == "Tiger Cub (rev 2)"
    answer.get_by_role("button", name=re.compile("^Good answer")).click()
    answer.locator(".rating__done").wait_for()
    assert "revision 3" in answer.locator(".rating__done").inner_text()
    assert_in_view_above_composer(page, answer.get_by_role("button", name="Undo this rating"))
    shoot(page, "12-chat-rated")
    page.reload()
    assert "revision 3" in page.locator(".rating__done").inner_text()
    page.set_viewport_size({"width": 390, "height": 800})  # a conversation opens with its end in view
    page.reload()
    assert_in_view_above_composer(page, page.get_by_role("button", name="Undo this rating"))
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})

    # A second tab on the same conversation: it sees the first tab's new turns when it comes back into view.
    conversation_url = page.url
    other = page.context.new_page()
    other.goto(conversation_url)
    other_turns = other.locator("article.turn[id^=turn-]")
    assert other_turns.count() == 2

    # The conversation goes on with the untrained base model; Stop cancels an answer half-way and keeps
    # what was written. The server holds this answer after its first token (a hold point armed for one
    # generation, tigercity/failpoints.py), so it is still running when Stop is pressed, however short the
    # demo model's answer or slow the machine.
    page.get_by_label("Model", exact=True).select_option("llama-3.1-8b")
    page.get_by_text("Settings").click()
    page.get_by_label("Max tokens").fill("1000")  # the settings checks below find these kept
    page.get_by_label("Temperature").fill("2")
    page.get_by_label("Top p").fill("1")
    answers = page.locator("article.turn--assistant[id^=turn-]")
    before = answers.count()
    live.arm("stream_hold_after_first_token")
    page.get_by_label("Message", exact=True).fill("Tell me a very long story about a tiger.")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_function("() => (document.querySelector('article.is-streaming [data-stream]') || {}).textContent",
                           timeout=180_000)
    assert not live.armed("stream_hold_after_first_token")  # the server took it: this answer is held
    assert "rev 0" in page.locator("article.is-streaming .turn__who").inner_text()
    page.get_by_role("button", name="Stop").click()
    page.wait_for_function("(n) => document.querySelectorAll('article.turn--assistant[id^=turn-]').length > n "
                           "&& !document.querySelector('article.is-streaming')", arg=before)
    stopped = answers.last
    assert "rev 0" in stopped.locator(".turn__meta").inner_text()
    assert "stopped" in stopped.locator(".turn__meta").inner_text()
    assert page.get_by_role("button", name="Send", exact=True).is_enabled()
    total = page.locator("article.turn[id^=turn-]").count()
    other.evaluate("window.dispatchEvent(new Event('focus'))")
    other.wait_for_function("(n) => document.querySelectorAll('article.turn[id^=turn-]').length === n", arg=total)

    # Signed out in the other tab: sending says the session ended, keeps the draft, and signing in
    # comes back to this conversation with the draft still there.
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url(re.compile(r"/login/"))
    other.close()
    draft = "A draft that must survive the sign-out."
    page.get_by_label("Message", exact=True).fill(draft)
    page.get_by_label("Message", exact=True).press("Enter")
    notice = page.locator("#session-ended")
    notice.wait_for()
    assert page.get_by_label("Message", exact=True).input_value() == draft
    assert page.locator("article.turn[id^=turn-]").count() == total and not page.locator(".turn--failed").count()
    shoot(page, "12b-session-ended")
    notice.get_by_role("link", name="Sign in and come back here").click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(conversation_url)
    assert page.get_by_label("Message", exact=True).input_value() == draft
    page.get_by_label("Message", exact=True).fill("")
    page.get_by_label("Message", exact=True).dispatch_event("input")

    # Settings are kept per conversation; an invalid one is refused at its field before anything is saved.
    page.get_by_text("Settings").click()
    assert page.get_by_label("Max tokens").input_value() == "1000"
    page.get_by_label("Temperature").fill("5")
    page.get_by_label("Message", exact=True).fill("Hi")
    page.get_by_label("Message", exact=True).press("Enter")
    assert page.locator("#chat-temperature-error").inner_text() == "Ensure this value is less than or equal to 2.0."
    assert page.get_by_label("Temperature").get_attribute("aria-invalid") == "true"
    assert page.locator("article.turn[id^=turn-]").count() == total
    assert page.get_by_label("Message", exact=True).input_value() == "Hi"
    shoot(page, "12c-setting-error")

    # A reload while an answer is written leaves the question marked, with Regenerate. (The socket is held
    # silent while the message is sent, so the answer cannot finish before the reload.)
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max tokens").fill("24")
    silent = {"on": True}
    page.route_web_socket(re.compile(r"/ws/chat/"),
                          lambda ws: None if silent["on"] else ws.connect_to_server())
    page.get_by_label("Message", exact=True).fill("Name a colour.")
    page.get_by_label("Message", exact=True).press("Enter")
    page.locator("article.is-streaming").wait_for()
    page.wait_for_function("(n) => document.querySelectorAll('article.turn[id^=turn-]').length === n + 1", arg=total)
    silent["on"] = False
    page.reload()
    marker = page.locator("[data-interrupted]")
    assert "No answer was saved for this message" in marker.inner_text()
    assert page.get_by_label("Max tokens").input_value() == "24"
    shoot(page, "12d-interrupted")
    marker.get_by_role("button", name="Regenerate").click()
    page.wait_for_function("(n) => document.querySelectorAll('article.turn[id^=turn-]').length === n + 2 "
                           "&& !document.querySelector('article.is-streaming')", arg=total)
    first_try = answers.last.locator("[data-content]").inner_text()
    old_id = answers.last.get_attribute("id")
    answers.last.get_by_role("button", name="Regenerate").click()  # any last answer can be written again
    page.locator(f"#{old_id}").wait_for(state="detached")
    page.wait_for_function("(n) => document.querySelectorAll('article.turn[id^=turn-]').length === n + 2 "
                           "&& !document.querySelector('article.is-streaming')", arg=total)
    assert answers.last.locator("[data-content]").inner_text() == first_try  # greedy: the same answer
    # Edit and resend: the message goes back to the box, it and its answer leave the thread.
    page.locator("article.turn--user").last.get_by_role("button", name="Edit and resend this message").click()
    page.wait_for_function("(n) => document.querySelectorAll('article.turn[id^=turn-]').length === n", arg=total)
    assert page.get_by_label("Message", exact=True).input_value() == "Name a colour."
    page.get_by_label("Message", exact=True).fill("")
    page.get_by_label("Message", exact=True).dispatch_event("input")

    # A thinking model's reasoning is folded above its answer, without raw tags.
    page.goto(f"{url}/chat/?model=deepseek-r1-8b")
    page.get_by_text("Settings").click()
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max tokens").fill("160")
    page.get_by_label("Message", exact=True).fill("What is the capital of France?")
    page.get_by_label("Message", exact=True).press("Enter")
    thought = page.locator("article.turn--assistant[id^=turn-]")
    thought.wait_for()
    box = thought.locator("details[data-reasoning-box]")
    assert box.is_visible() and box.get_attribute("open") is None
    assert "</think>" not in thought.locator("[data-content]").inner_text()
    box.locator("summary").click()
    assert thought.locator("[data-reasoning]").inner_text().strip()
    shoot(page, "12e-reasoning")

    # A history longer than the context: the oldest turns are left out and the thread says so. The socket is
    # routed so that the engine's context check is stood in for by refusing any request of more than 3 turns.
    page.goto(conversation_url)

    def small_context(ws):
        server = ws.connect_to_server()

        def relay(message):
            request = json.loads(message)
            turns = [m for m in request.get("messages", []) if m["role"] != "system"]
            if request.get("type") == "generate" and len(turns) > 3:
                ws.send(json.dumps({"type": "error", "id": request["id"], "error": {
                    "message": "The prompt is 2088 tokens long, but the model's context is 1024 tokens.",
                    "type": "invalid_request_error", "code": "context_length_exceeded", "param": None}}))
            else:
                server.send(message)
        ws.on_message(relay)
    page.route_web_socket(re.compile(r"/ws/chat/"), small_context)
    before = page.locator("article.turn[id^=turn-]").count()
    page.get_by_label("Message", exact=True).fill("One more question.")
    page.get_by_label("Message", exact=True).press("Enter")
    page.wait_for_function("(n) => document.querySelectorAll('article.turn[id^=turn-]').length === n + 2 "
                           "&& !document.querySelector('article.is-streaming')", arg=before)
    assert not page.locator(".turn--failed").count()
    assert "turns were left out of what the model saw" in page.locator("[data-dropped]").inner_text()

    # Train by rating: 4 candidates side by side, rated, trained, compared.
    go(page, "Train")
    picker = page.get_by_label("Model", exact=True)
    picker.select_option("llama-3.1-8b")  # choosing opens it: no Open button to forget
    page.wait_for_url(re.compile(r"model=llama-3.1-8b"))
    page.get_by_text("Llama-3.1-8b is a base model").wait_for()
    page.get_by_label("Model", exact=True).select_option("tiger-cub")
    page.wait_for_url(re.compile(r"model=tiger-cub"))
    assert page.get_by_role("button", name="Train Tiger Cub").is_visible()
    page.get_by_label("Prompt", exact=True).fill("Name a colour.")
    page.get_by_label("Candidates", exact=True).select_option("1")
    page.get_by_role("button", name="Sample").click()
    page.get_by_text("1 candidate from revision 3").wait_for()
    page.get_by_label("Candidates", exact=True).select_option("4")
    page.evaluate(RECORD_STREAM)
    page.get_by_role("button", name="Sample").click()
    page.get_by_text("4 candidates from revision 3").wait_for()
    cards = page.locator("#candidates .candidate")
    assert cards.count() == 4
    assert len({text for _, text in page.evaluate("window.__states")}) >= 4
    texts = [cards.nth(i).locator(".candidate__body").inner_text() for i in range(4)]
    assert page.locator("#identical-note").is_visible() == (len(set(texts)) == 1)
    shoot(page, "13-train-candidates")
    for index in range(4):  # all equal: nothing to learn, said in a neutral box
        cards.nth(index).get_by_text("Good (+1)").click()
    page.get_by_role("button", name="Train Tiger Cub").click()
    result = page.locator("[data-train-result]")
    result.wait_for()
    assert "All ratings are equal: nothing to learn" in result.inner_text()
    assert "result--neutral" in result.get_attribute("class")
    shoot(page, "13b-train-nothing-to-learn")
    for index, label in ((0, "Good (+1)"), (1, "Bad (−1)"), (2, "Good (+1)"), (3, "Bad (−1)")):
        cards.nth(index).get_by_text(label).click()
    page.evaluate("""() => { window.__progress = false;
      new MutationObserver(() => { if (document.querySelector('#train-progress.htmx-request')) window.__progress = true; })
        .observe(document.getElementById('train-progress'), {attributes: true}); }""")
    page.get_by_role("button", name="Train Tiger Cub").click()
    page.locator("[data-train-result]:not(.result--neutral)").wait_for()
    assert page.evaluate("window.__progress") is True
    assert "revision 4" in result.inner_text() and "mean rating" in result.inner_text().lower()
    assert page.locator("#model-revision").inner_text() == "revision 4"
    # Undo the training: back to revision 3's weights as revision 5; then train again (revision 6).
    result.get_by_role("button", name="Undo this training").click()
    page.locator("[data-train-result][data-undone]").wait_for()
    assert "back to the weights of revision 3" in result.inner_text()
    assert page.locator("#model-revision").inner_text() == "revision 5"
    page.get_by_role("button", name="Train Tiger Cub").click()
    page.locator("[data-train-result]:not([data-undone])").wait_for()
    assert "revision 5 → revision 6" in result.inner_text()
    assert page.locator("#charts svg").count() == 2
    assert page.locator("#charts figcaption").first.inner_text() == "Mean rating you gave by revision"
    assert page.locator("#charts figure").first.locator("circle").count() == 4  # revisions 1, 3, 4 and 6
    shoot(page, "14-train-result")
    page.get_by_role("button", name="Re-sample to compare").click()
    page.get_by_text("4 candidates from revision 6").wait_for()
    assert page.locator("#previous-candidates .candidate").count() == 4
    shoot(page, "15-train-compare")

    # Restore a revision from the model's page, after a confirmation that says what happens.
    page.goto(f"{url}/models/tiger-cub/")
    page.get_by_role("button", name="Restore revision 3").click()
    dialog = page.get_by_role("dialog")
    assert "A new revision is made whose weights equal revision 3" in dialog.inner_text()
    assert_dialog_readable(page, dialog)
    shoot(page, "15b-restore-dialog")
    dialog.get_by_role("button", name="Restore revision 3").click()
    page.get_by_text("Restored revision 3: Tiger Cub is now at revision 7").wait_for()
    assert "restored from 3" in page.locator("tr", has_text="current").inner_text()
    # Saving a description updates the About card at once; a long URL wraps inside it.
    page.get_by_label("Description", exact=True).fill("Trained in the browser test. https://example.com/" + "x" * 120)
    page.locator("#model-edit").get_by_role("button", name="Save").click()
    page.locator("#model-about [data-description]", has_text="Trained in the browser test.").wait_for()
    shoot(page, "15c-model-saved")
    assert page.evaluate("(() => { const c = document.getElementById('model-about'); "
                         "return c.scrollWidth <= c.clientWidth; })()")
    # An unknown model in the address is said, not silently replaced.
    page.goto(f"{url}/chat/?model=nope")
    assert page.locator("[data-missing-model]").inner_text().startswith("There is no model “nope”")

    # Docs: curl with this server's address.
    go(page, "Docs")
    assert f"curl {url}/v1/models" in page.locator("#s-models").inner_text()
    assert page.get_by_role("link", name="Open the OpenAPI docs").get_attribute("href") == f"{url}/v1/docs"
    shoot(page, "16-docs")

    # Revoke the key: the dialog names it by prefix and date; the API answers 401 from then on.
    go(page, "API keys")
    page.get_by_role("button", name="Revoke browser test").click()
    assert f"The key {secret[:11]}" in page.get_by_role("dialog").inner_text()
    assert_dialog_readable(page, page.get_by_role("dialog"))
    page.get_by_role("dialog").get_by_role("button", name="Revoke key").click()
    page.locator("#key-rows tr", has_text="revoked").wait_for()
    shoot(page, "17-keys-revoked")
    assert httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    assert not page.errors, page.errors
