/* Train by rating: one websocket generate with n=N streams N candidates side by side (events carry
 * `index`); each gets a rating; the form posts them (htmx) and shows the metrics and the new revision. */
(function () {
  "use strict";

  const root = document.querySelector("[data-train]");
  if (!root) return;
  const socket = new TigerSocket("/ws/chat/");
  const model = root.getAttribute("data-model");
  const form = document.getElementById("train-form");
  const grid = document.getElementById("candidates");
  const heading = document.getElementById("candidates-heading");
  const sampleButton = document.getElementById("sample-button");
  const stopButton = document.getElementById("sample-stop");
  const trainButton = document.getElementById("train-button");
  const result = document.getElementById("train-result");
  const previous = document.getElementById("previous");
  const previousGrid = document.getElementById("previous-candidates");
  const previousHeading = document.getElementById("previous-heading");
  const identical = document.getElementById("identical-note");
  const $ = function (id) { return document.getElementById(id); };
  let running = null;
  let sampledRevision = null;

  function mode() { return form.querySelector("input[name=mode]:checked").value; }

  function ratingControls(index) {
    const wrap = document.createElement("div");
    wrap.className = "candidate__rating";
    const thumbs = document.createElement("fieldset");
    thumbs.className = "segmented segmented--small";
    thumbs.setAttribute("data-mode", "thumbs");
    thumbs.innerHTML = '<legend class="sr-only">Rate candidate ' + (index + 1) + '</legend>';
    [["1", "Good (+1)", "thumbs-up"], ["-1", "Bad (−1)", "thumbs-down"]].forEach(function (choice) {
      const id = "thumbs-" + index + "-" + choice[2];
      thumbs.insertAdjacentHTML("beforeend",
        '<input type="radio" name="thumbs_' + index + '" id="' + id + '" value="' + choice[0] + '">' +
        '<label for="' + id + '" class="segmented__icon ' + choice[2] + '">' + choice[1] + '</label>');
    });
    const score = document.createElement("fieldset");
    score.className = "segmented segmented--small";
    score.setAttribute("data-mode", "score");
    score.innerHTML = '<legend class="sr-only">Score candidate ' + (index + 1) + ' from 1 to 5</legend>';
    for (let s = 1; s <= 5; s++) {
      const id = "score-" + index + "-" + s;
      score.insertAdjacentHTML("beforeend",
        '<input type="radio" name="score_' + index + '" id="' + id + '" value="' + s + '">' +
        '<label for="' + id + '"><span class="sr-only">score </span>' + s + '</label>');
    }
    wrap.append(thumbs, score);
    return wrap;
  }

  function showMode() {
    const current = mode();
    form.querySelectorAll("#candidates fieldset[data-mode]").forEach(function (set) {
      const active = set.getAttribute("data-mode") === current;
      set.hidden = !active;
      if (!active) set.querySelectorAll("input").forEach(function (i) { i.checked = false; });
    });
  }
  form.querySelectorAll("input[name=mode]").forEach(function (r) { r.addEventListener("change", showMode); });

  function card(index) {
    const article = document.createElement("article");
    article.className = "candidate is-streaming";
    article.setAttribute("aria-busy", "true");
    article.setAttribute("data-index", String(index));
    article.innerHTML = '<h3 class="candidate__title">Candidate ' + (index + 1) + '</h3>';
    const thinking = TigerSocket.reasoningBox();
    const body = document.createElement("div");
    body.className = "candidate__body";
    body.setAttribute("data-stream", "");
    const content = document.createElement("textarea");
    content.name = "content_" + index;
    content.hidden = true;
    content.setAttribute("aria-hidden", "true");
    article.append(thinking.box, body, content, ratingControls(index));
    return { article: article, body: body, thinking: thinking, full: "", content: content };
  }

  function busy(on) {
    sampleButton.disabled = on;
    stopButton.hidden = !on;
    trainButton.disabled = on || grid.children.length === 0;
  }

  function sample() {
    const prompt = $("train-prompt").value;
    if (!prompt.trim()) {
      $("train-prompt").focus();
      tigerToast("Write a prompt first.");
      return;
    }
    const n = parseInt($("train-n").value, 10);
    grid.replaceChildren();
    result.replaceChildren();
    identical.hidden = true;
    const cards = [];
    for (let i = 0; i < n; i++) { cards.push(card(i)); grid.appendChild(cards[i].article); }
    showMode();
    heading.textContent = n === 1 ? "Sampling 1 candidate…" : "Sampling " + n + " candidates…";
    const messages = [];
    if ($("train-system").value.trim()) messages.push({ role: "system", content: $("train-system").value });
    messages.push({ role: "user", content: prompt });
    const request = {
      model: model, messages: messages, n: n,
      temperature: TigerSocket.number($("train-temperature")),
      top_p: TigerSocket.number($("train-top_p")),
      max_tokens: TigerSocket.number($("train-max_tokens")),
    };
    Object.keys(request).forEach(function (k) { if (request[k] === undefined) delete request[k]; });
    busy(true);
    const end = function (text) {
      cards.forEach(function (c) {
        c.article.classList.remove("is-streaming");
        c.article.removeAttribute("aria-busy");
        c.content.value = c.full;
      });
      running = null;
      busy(false);
      heading.textContent = text;
    };
    running = socket.generate(request, {
      start: function (event) { sampledRevision = event.revision; },
      delta: function (event) {
        const c = cards[event.index];
        if (!c) return;
        c.full += event.text;  /* trained on as generated, reasoning included */
        TigerSocket.showDelta(event, c.body, c.thinking);
      },
      finished: function (event) {
        const c = cards[event.index];
        if (!c) return;
        c.article.classList.remove("is-streaming");
        c.article.removeAttribute("aria-busy");
        c.content.value = c.full;
      },
      done: function () {
        end(n === 1 ? "1 candidate from revision " + sampledRevision + ". Rate it, then train."
          : n + " candidates from revision " + sampledRevision + ". Rate them, then train.");
        flagIdentical(cards);
      },
      cancelled: function () { end("Stopped. You can still rate what was written, or sample again."); },
      error: function (event) {
        end("Sampling failed.");
        grid.replaceChildren();
        const alert = document.createElement("div");
        alert.className = "alert alert--error";
        alert.setAttribute("role", "alert");
        alert.textContent = (event.error && event.error.message) || "The generation failed.";
        grid.appendChild(alert);
        trainButton.disabled = true;
      },
      lost: function (reason) { end(reason); },
    });
  }

  /* Identical candidates give nothing to compare: say so, with what to change. */
  function flagIdentical(cards) {
    const texts = cards.map(function (c) { return c.full; });
    const same = texts.length > 1 && texts.every(function (t) { return t === texts[0]; });
    identical.hidden = !same;
    identical.textContent = same ? "All " + texts.length + " candidates are identical, so rating them teaches " +
      "nothing. Raise the temperature or top p, or ask something with several good answers." : "";
  }

  /* Keep the candidates that were rated before training next to the new ones. */
  function keepPrevious() {
    if (!grid.querySelector(".candidate")) return;
    const copy = grid.cloneNode(true);
    copy.querySelectorAll("textarea").forEach(function (t) { t.remove(); });
    copy.querySelectorAll("input").forEach(function (input) {
      input.disabled = true;
      input.removeAttribute("name");
      input.id = "prev-" + input.id;
    });
    copy.querySelectorAll("label[for]").forEach(function (label) { label.htmlFor = "prev-" + label.htmlFor; });
    copy.querySelectorAll("fieldset[hidden]").forEach(function (f) { f.remove(); });
    previousGrid.replaceChildren.apply(previousGrid, Array.from(copy.children));
    previousHeading.textContent = "Before training (revision " + sampledRevision + ")";
    previous.hidden = false;
  }

  sampleButton.addEventListener("click", sample);
  stopButton.addEventListener("click", function () { if (running) socket.cancel(running); });
  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-resample]")) return;
    keepPrevious();
    sample();
    heading.scrollIntoView({ block: "start", behavior: "smooth" });
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== result) return;
    const panel = result.querySelector("[data-train-result]");
    if (panel) panel.focus();
  });
})();
