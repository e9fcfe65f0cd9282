"""Fine-tuning in a real browser: add the sample dataset with one click, fine-tune a new model, watch the
progress bar reach 100 % over the websocket, then chat with the new revision.

Same launch options and live server as tests/playground/test_browser.py; screenshots at 1280 px and
390 px in artifacts/screenshots/ (git-ignored). Run with `pytest -m browser tests/playground`.
"""
import pytest

from tests.playground.test_browser import browser, go, live, page, shoot  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

PASSWORD = "a-long-pass-phrase-42"


def test_a_user_fine_tunes_a_model_on_the_sample_dataset_and_chats_with_it(live, page):  # noqa: F811
    url = live.url
    page.goto(f"{url}/signup/")
    page.get_by_label("Username").fill("grace")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{url}/chat/")

    # Datasets: a bad upload names its line; the sample is one click.
    go(page, "Datasets")
    page.get_by_label("JSONL file").set_input_files(files=[{
        "name": "broken.jsonl", "mimeType": "application/jsonl",
        "buffer": b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ho"}]}\nnot json\n'}])
    page.get_by_role("button", name="Upload").click()
    page.locator("[data-upload-errors]").get_by_text("line 2").wait_for()
    shoot(page, "ft-01-datasets-error")
    page.get_by_role("button", name="Add Pirate (supervised)").click()
    row = page.locator("#dataset-table tr[data-file]", has_text="pirate-supervised.jsonl")
    row.wait_for()
    assert row.locator("[data-lines]").inner_text() == "60" and int(row.locator("[data-tokens]").inner_text()) > 0
    row.get_by_role("button", name="Preview").click()
    page.get_by_text("Ahoy, matey!").first.wait_for()
    shoot(page, "ft-02-datasets")

    # A new model, fine-tuned with small settings.
    go(page, "Models")
    form = page.locator("[data-create-model]")
    form.get_by_label("Name").fill("Pirate")
    form.get_by_label("Parent model").select_option("Llama-3.1-8b")
    form.get_by_role("button", name="Create model").click()
    page.get_by_text("Created Pirate (id pirate) at revision 0.").wait_for()
    page.goto(f"{url}/models/pirate/")
    panel = page.locator("#finetune")
    panel.get_by_label("Supervised dataset").select_option(label="pirate-supervised.jsonl (60 lines)")
    panel.get_by_label("Epochs").fill("1")
    panel.get_by_label("Batch size").fill("16")
    panel.get_by_label("Seed").fill("7")
    panel.get_by_label("Early-stopping patience").fill("0")
    panel.get_by_label("W&B API key").fill("never-shown-key")
    panel.get_by_role("button", name="Start fine-tuning").click()
    # Refused at its field; what was typed stays, except the key, which is never sent back.
    error = page.locator("#ft-early_stopping_patience-error")
    error.wait_for()
    assert "patience must be an integer from 1 to 100" in error.inner_text()
    assert page.get_by_label("Early-stopping patience").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Seed").input_value() == "7" and page.get_by_label("Epochs").input_value() == "1"
    assert page.get_by_label("W&B API key").input_value() == ""
    assert "never-shown-key" not in page.content()
    shoot(page, "ft-03a-finetune-field-error")
    page.get_by_label("Early-stopping patience").fill("3")
    shoot(page, "ft-03-finetune-form")
    panel.get_by_role("button", name="Start fine-tuning").click()
    page.locator("#finetune-progress").wait_for()
    # Every progress text the page shows before it reloads (sessionStorage outlives the reload): the
    # websocket's pushes, since the server-rendered panel of a queued job names no step.
    page.evaluate("""() => {
      const seen = [];
      new MutationObserver(() => {
        const text = document.querySelector('#finetune [data-progress-text]');
        if (text && text.textContent.includes('step')) { seen.push(text.textContent); sessionStorage.ftSeen = JSON.stringify(seen); }
      }).observe(document.getElementById('main'), {childList: true, subtree: true, characterData: true});
    }""")
    # Pushed over the websocket (then the page reloads once to show the history): wait for the state.
    page.wait_for_function("() => { const p = document.getElementById('finetune');"
                           " return p && p.dataset.status === 'succeeded'"
                           " && document.getElementById('finetune-progress').value === 100; }", timeout=240_000)
    page.wait_for_load_state()
    page.wait_for_function("() => document.getElementById('finetune-progress').value === 100"
                           " && document.querySelector('#finetune .chart__line').getAttribute('d') !== ''")
    assert "revision 1" in page.locator("#model-revision").inner_text()
    seen = page.evaluate("JSON.parse(sessionStorage.ftSeen || '[]')")
    assert seen and seen[-1].startswith("100 %"), seen
    assert "fine-tuned (supervised" in page.locator("[data-run-kind]").inner_text()
    assert "0 → 1" in page.locator("#finetune .jobs").inner_text()
    assert "seed 7" in page.locator("[data-job-settings]").inner_text()
    assert "patience 3" in page.locator("[data-job-settings]").inner_text()
    # The history charts the job's own measure, over the revisions fine-tuning made.
    chart = page.locator("#charts figure", has_text="Validation loss (supervised jobs) by revision")
    assert chart.locator("circle").count() == 1 and chart.locator("[data-chart-note]").is_visible()
    shoot(page, "ft-04-finetuned")

    # Chat with the new revision.
    page.goto(f"{url}/chat/?model=pirate")
    page.get_by_label("Message", exact=True).fill("What is the capital of Poland?")
    page.get_by_label("Message", exact=True).press("Enter")
    answer = page.locator("article.turn--assistant[id^=turn-]")
    page.locator("article.turn--assistant[id^=turn-], .turn--failed .alert").first.wait_for(timeout=180_000)
    assert not page.locator(".turn--failed").count(), page.locator(".turn--failed").inner_text()
    assert "rev 1" in answer.inner_text()
    shoot(page, "ft-05-chat")
    assert not page.errors, page.errors
