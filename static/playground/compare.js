/* Blind comparison (templates/playground/_compare.html): each prompt of a set is answered by the current
 * revision and an earlier one over the page's websocket (`revision` pins one), shown in random order as A and
 * B; the pick is posted with which revision wrote which side, and the server's answer reveals it.
 * The section is re-rendered by the server (after a training, a new prompt set, a pick), so everything is
 * looked up when used and clicks are delegated. */
(function () {
  "use strict";

  if (!document.querySelector("[data-train]")) return;
  const socket = new TigerSocket("/ws/chat/");
  const $ = function (id) { return document.getElementById(id); };
  let round = null;  /* {prompts, index, setId, baseline, current, sides: {left, right}, texts, pending} */

  function section() { return document.querySelector("[data-compare]"); }
  function sidesOf() { return document.querySelectorAll("#compare-arena [data-side]"); }

  function start() {
    const root = section();
    const sets = JSON.parse($("prompt-set-data").textContent || "{}");
    const setId = $("compare-set").value;
    const prompts = sets[setId] || [];
    if (!prompts.length) { tigerToast("Choose a prompt set first."); return; }
    round = { prompts: prompts, index: 0, setId: setId, baseline: parseInt($("compare-baseline").value, 10),
              current: parseInt(root.getAttribute("data-current"), 10), model: root.getAttribute("data-model"),
              maxTokens: TigerSocket.number($("compare-max_tokens")),
              temperature: TigerSocket.number($("compare-temperature")) };
    $("compare-arena").hidden = false;
    $("compare-start").disabled = true;
    ask();
  }

  /* One prompt: both revisions answer at once; which is A is decided here by a coin and shown only after. */
  function ask() {
    const prompt = round.prompts[round.index];
    const currentLeft = Math.random() < 0.5;
    round.sides = { left: currentLeft ? round.current : round.baseline, right: currentLeft ? round.baseline : round.current };
    round.texts = { left: "", right: "" };
    round.pending = 2;
    round.failed = false;
    $("compare-progress").textContent = "Prompt " + (round.index + 1) + " of " + round.prompts.length +
      ": which answer is better?";
    $("compare-prompt").textContent = prompt;
    $("compare-reveal").replaceChildren();
    $("compare-next").hidden = true;
    sidesOf().forEach(function (card) {
      const side = card.getAttribute("data-side");
      card.classList.remove("is-picked");
      card.classList.add("is-streaming");
      card.setAttribute("aria-busy", "true");
      card.querySelector(".candidate__title").textContent = "Answer " + (side === "left" ? "A" : "B");
      card.querySelector("[data-answer]").replaceChildren();
      card.querySelector("[data-pick]").disabled = true;
      const request = { model: round.model, messages: [{ role: "user", content: prompt }],
                        revision: round.sides[side], max_tokens: round.maxTokens, temperature: round.temperature };
      Object.keys(request).forEach(function (k) { if (request[k] === undefined) delete request[k]; });
      socket.generate(request, answerHandlers(card, side, round));
    });
  }

  function answerHandlers(card, side, mine) {
    const body = card.querySelector("[data-answer]");
    function ended(error) {
      if (round !== mine) return;
      card.classList.remove("is-streaming");
      card.removeAttribute("aria-busy");
      if (error) {
        mine.failed = true;
        const alert = document.createElement("div");
        alert.className = "alert alert--error";
        alert.setAttribute("role", "alert");
        alert.textContent = error;
        body.appendChild(alert);
      }
      if (--mine.pending === 0) bothAnswered();
    }
    return {
      delta: function (event) {
        if (round !== mine) return;
        mine.texts[side] += event.text;
        body.appendChild(document.createTextNode(event.text));
      },
      done: function () { ended(""); },
      cancelled: function () { ended("Stopped."); },
      error: function (event) { ended((event.error && event.error.message) || "The generation failed."); },
      lost: function (reason) { ended(reason); },
    };
  }

  function bothAnswered() {
    if (round.failed) { showNext(); return; }
    if (round.texts.left === round.texts.right) {
      const note = document.createElement("p");
      note.className = "callout small";
      note.setAttribute("data-same", "");
      note.textContent = "Both answers are the same, so there is nothing to pick: this prompt is skipped.";
      $("compare-reveal").replaceChildren(note);
      showNext();
      return;
    }
    sidesOf().forEach(function (card) { card.querySelector("[data-pick]").disabled = false; });
    $("compare-progress").textContent = "Prompt " + (round.index + 1) + " of " + round.prompts.length +
      ": pick the better answer.";
  }

  function pick(side) {
    const mine = round;
    sidesOf().forEach(function (card) { card.querySelector("[data-pick]").disabled = true; });
    const form = new FormData();
    form.append("prompt", mine.prompts[mine.index]);
    form.append("prompt_set", mine.setId);
    form.append("left_revision", String(mine.sides.left));
    form.append("right_revision", String(mine.sides.right));
    form.append("left_text", mine.texts.left);
    form.append("right_text", mine.texts.right);
    form.append("picked", side);
    tigerPost(section().getAttribute("data-pick-url"), form).then(function (result) {
      if (result.sessionEnded || round !== mine) return;
      if (!result.ok) {
        tigerToast(tigerErrorMessage(result.status, result.text));
        sidesOf().forEach(function (card) { card.querySelector("[data-pick]").disabled = false; });
        return;
      }
      htmx.swap($("compare-reveal"), result.text, { swapStyle: "innerHTML" });
      sidesOf().forEach(function (card) {
        const s = card.getAttribute("data-side");
        card.classList.toggle("is-picked", s === side);
        card.querySelector(".candidate__title").textContent =
          "Answer " + (s === "left" ? "A" : "B") + " · revision " + mine.sides[s];
      });
      showNext();
      const reveal = $("compare-reveal").querySelector("[data-reveal]");
      if (reveal) reveal.focus();
    });
  }

  function showNext() {
    const last = round.index + 1 >= round.prompts.length;
    if (last) {
      $("compare-progress").textContent = "Done: " + round.prompts.length + " prompt" +
        (round.prompts.length === 1 ? "" : "s") + " compared. Your picks are in the chart below.";
      const startButton = $("compare-start");
      if (startButton) startButton.disabled = false;
      round = null;
      return;
    }
    $("compare-next").hidden = false;
  }

  document.addEventListener("click", function (event) {
    const target = event.target.closest("#compare-start, #compare-next, [data-pick], [data-compare-with]");
    if (!target) return;
    if (target.id === "compare-start") start();
    else if (target.id === "compare-next" && round) { round.index += 1; ask(); }
    else if (target.hasAttribute("data-pick") && round) pick(target.getAttribute("data-pick"));
    else if (target.hasAttribute("data-compare-with")) {
      const baseline = $("compare-baseline");
      if (baseline) baseline.value = target.getAttribute("data-compare-with");
      const startButton = $("compare-start");
      if (startButton) {
        event.preventDefault();
        section().scrollIntoView({ block: "start" });
        startButton.focus({ preventScroll: true });
      }
    }
  });
})();
