"""The blind comparison loop in a real browser: train a model once (a thumbs up in chat), save a prompt set,
compare the new revision with the one before without knowing which answer is which, see the reveal and the
win rate chart, send the picks as DPO training with one click, and compare the revision that job made.

Same launch options and live server as tests/playground/test_browser.py; screenshots at 1280 px and 390 px
in artifacts/screenshots/. Run with `pytest -m browser tests/playground`.
"""
import re

import pytest

from tests.playground.test_browser import browser, go, live, page, shoot  # noqa: F401 (fixtures)
from tests.playground.test_browser_chat import sign_up

pytestmark = pytest.mark.browser

# Open requests (the demo model answers "tell me a story" with one fixed refusal), so that two revisions
# sampling independently write different answers.
PROMPTS = "Write a poem about the moon.\nWrite a poem about the sea."


def answered(page) -> bool:
    """Wait until both answers of the current prompt are written; True when they can be picked between."""
    page.wait_for_function("() => !document.querySelector('#compare-arena .is-streaming')"
                           " && (!document.querySelector('[data-pick=left]').disabled"
                           "     || document.querySelector('#compare-reveal [data-same]')"
                           "     || document.querySelector('#compare-arena .alert'))", timeout=120_000)
    assert not page.locator("#compare-arena .alert").count(), page.locator("#compare-arena .alert").inner_text()
    return page.locator("[data-pick=left]").is_enabled()


def test_a_blind_comparison_of_two_revisions_trains_the_model_on_the_picks(live, page):  # noqa: F811
    url = live.url
    sign_up(page, url, "ida")
    go(page, "Models")
    form = page.locator("[data-create-model]")
    form.get_by_label("Name").fill("Judge")
    form.get_by_label("Parent model").select_option("Llama-3.1-8b")
    form.get_by_role("button", name="Create model").click()
    page.get_by_text("Created Judge (id judge) at revision 0.").wait_for()

    # Revision 1: a thumbs up in chat trains at once.
    page.goto(f"{url}/chat/?model=judge")
    page.get_by_label("Message", exact=True).fill("Name a colour.")
    page.get_by_label("Message", exact=True).press("Enter")
    answer = page.locator("article.turn--assistant[id^=turn-]")
    answer.wait_for(timeout=180_000)
    answer.get_by_role("button", name=re.compile("^Good answer")).click()
    answer.locator(".rating__done", has_text="revision 1").wait_for()

    # A prompt set, saved on the Train page, where the comparison lives.
    go(page, "Train")
    page.get_by_label("Model", exact=True).select_option("judge")
    page.wait_for_url(re.compile(r"model=judge"))
    compare = page.locator("#compare")
    assert "Save a prompt set below" in compare.inner_text()
    compare.get_by_label("Name of a new prompt set").fill("Open questions")
    compare.get_by_label("Prompts").fill(PROMPTS)
    compare.get_by_role("button", name="Save prompt set").click()
    page.locator("[data-set-saved]").wait_for()
    assert page.get_by_label("Revision 1 against").locator("option:checked").inner_text() == \
        "revision 0 (the one before; the parent, Llama-3.1-8b)"
    page.locator("#compare-max_tokens").fill("24")
    page.locator("#compare-temperature").fill("1")  # each revision samples its own answer
    shoot(page, "22-compare-ready")

    # Blind: the cards say A and B until the pick; then the reveal names both revisions.
    page.get_by_role("button", name="Start blind comparison").click()
    picks = 0
    for index in range(2):
        assert page.locator("#compare-prompt").inner_text() == PROMPTS.split("\n")[index]
        if answered(page):
            titles = [page.locator(f"#answer-{side}-title").inner_text() for side in ("left", "right")]
            assert titles == ["Answer A", "Answer B"]  # nothing says which revision wrote which
            if index == 0:
                shoot(page, "23-compare-blind")
            page.get_by_role("button", name="A is better").click()
            reveal = page.locator("[data-reveal]")
            reveal.wait_for()
            winner, loser = reveal.get_attribute("data-winner"), reveal.get_attribute("data-loser")
            assert {winner, loser} == {"0", "1"}
            assert f"You picked answer A, written by revision {winner}" in reveal.inner_text()
            assert page.locator("#answer-left-title").inner_text() == f"Answer A · revision {winner}"
            picks += 1
            if picks == 1:
                shoot(page, "24-compare-revealed")
        if index == 0:
            page.get_by_role("button", name="Next prompt").click()
    page.get_by_text("Done: 2 prompts compared.").wait_for()
    assert picks >= 1, "both prompts got identical answers from both revisions"

    # The win rate per revision, drawn with the training charts' code.
    results = page.locator("#compare-results")
    assert results.locator("figcaption").inner_text() == "Win rate in blind picks (%) by revision"
    assert results.locator("circle").count() == 2  # revisions 0 and 1
    assert results.locator(".compare__table tbody tr").count() == 2
    shoot(page, "25-compare-chart")

    # One click: the picks become a preference dataset and a DPO job on Judge, followed on its page.
    results.get_by_role("button", name=re.compile(r"^Train on \d+ picks? \(DPO\)")).click()
    started = page.locator("[data-compare-trained]")
    started.wait_for()
    job = re.search(r"\((ftjob-[0-9a-f]+)\)", started.inner_text()).group(1)
    assert results.get_by_role("button", name="Train on 0 picks (DPO)").is_disabled()  # each pick is sent once
    shoot(page, "26-compare-trained")
    started.get_by_role("link", name="Follow the job on Judge's page").click()
    page.wait_for_url(re.compile(r"/models/judge/"))
    page.wait_for_function("(job) => { const p = document.getElementById('finetune');"
                           " return p && p.dataset.job === job && p.dataset.status === 'succeeded'; }",
                           arg=job, timeout=240_000)

    # The loop closes: the job's revision is the one compared next, against the revision before it.
    page.goto(f"{url}/train/?model=judge")
    options = page.get_by_label("Revision 2 against").locator("option")
    assert options.all_inner_texts() == ["revision 1 (the one before)", "revision 0 (the parent, Llama-3.1-8b)"]
    assert not page.errors, page.errors
