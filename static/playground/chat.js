/* Chat: save the user's turn, stream the answer over the websocket, save it, offer thumbs up/down. */
(function () {
  "use strict";

  const root = document.querySelector("[data-chat]");
  if (!root) return;
  const socket = new TigerSocket("/ws/chat/");
  const composer = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  const sendButton = document.getElementById("send-button");
  const stopButton = document.getElementById("stop-button");
  const messages = document.getElementById("messages");
  const status = document.getElementById("chat-status");
  const picker = document.getElementById("chat-model");
  const baseNote = document.querySelector("[data-base-note]");
  const fields = {
    temperature: document.getElementById("chat-temperature"),
    top_p: document.getElementById("chat-top_p"),
    max_tokens: document.getElementById("chat-max_tokens"),
    system: document.getElementById("chat-system"),
  };
  const conversationInput = composer.querySelector("input[name=conversation]");
  let answerUrl = root.getAttribute("data-answer-url");
  let running = null; // {id, bubble, saved}

  /* The model's own defaults fill temperature and top_p when it is picked. */
  function applyModelDefaults() {
    const option = picker.selectedOptions[0];
    if (!option) return;
    fields.temperature.value = option.getAttribute("data-temperature") || "";
    fields.top_p.value = option.getAttribute("data-top_p") || "";
    baseNote.hidden = !option.hasAttribute("data-base");
  }
  picker.addEventListener("change", applyModelDefaults);
  /* A conversation reopens with the settings it was last used with; a new one starts from the model's. */
  if (document.getElementById("chat-settings").hasAttribute("data-saved")) {
    baseNote.hidden = !(picker.selectedOptions[0] && picker.selectedOptions[0].hasAttribute("data-base"));
  } else {
    applyModelDefaults();
  }
  const settingsPanel = document.getElementById("chat-settings-panel");
  const narrow = window.matchMedia("(max-width: 640px)");

  /* A setting the server refused: its message at the field, the panel open, nothing saved. */
  function clearFieldErrors() {
    document.querySelectorAll("#chat-settings [aria-invalid]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
      const error = document.getElementById(field.id + "-error");
      if (error) error.remove();
      field.setAttribute("aria-describedby", field.id + "-help");
    });
  }
  function showFieldErrors(errors) {
    clearFieldErrors();
    settingsPanel.open = true;
    let first = null;
    Object.keys(errors).forEach(function (name) {
      const field = fields[name];
      if (!field) return;
      const error = document.createElement("p");
      error.className = "field__error";
      error.id = field.id + "-error";
      error.textContent = errors[name];
      field.insertAdjacentElement("afterend", error);
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", error.id + " " + field.id + "-help");
      first = first || field;
    });
    if (first) first.focus();
  }

  /* A rating that copied a base model: pick the copy so the conversation goes on with it. */
  document.body.addEventListener("tiger:model-created", function (event) {
    const detail = event.detail || {};
    if (!detail.key) return;
    const option = document.createElement("option");
    option.value = detail.key;
    option.textContent = detail.name + " (rev " + detail.revision + ")";
    const base = picker.selectedOptions[0];
    option.setAttribute("data-temperature", base ? base.getAttribute("data-temperature") : "");
    option.setAttribute("data-top_p", base ? base.getAttribute("data-top_p") : "");
    document.getElementById("own-models").appendChild(option);
    picker.value = detail.key;
    applyModelDefaults();
    announce("Now chatting with " + detail.name + ", your copy.");
  });

  function announce(text) { status.textContent = text; }

  /* The draft survives an ended session and a reload: kept per user and conversation until it is sent. */
  function draftKey() {
    return "tiger:draft:" + root.getAttribute("data-user") + ":" + (conversationInput.value || "new");
  }
  function keepDraft() {
    try {
      if (input.value) localStorage.setItem(draftKey(), input.value); else localStorage.removeItem(draftKey());
    } catch (e) { /* storage off: the text stays in the box at least */ }
  }
  function restoreDraft() {
    try {
      const draft = localStorage.getItem(draftKey());
      if (draft && !input.value) input.value = draft;
    } catch (e) { /* storage off */ }
  }
  input.addEventListener("input", keepDraft);
  document.addEventListener("tiger:session-ended", function () { keepDraft(); setBusy(false); });
  restoreDraft();

  /* The live token count: the engine counts the conversation and the draft with the model's chat template
   * (POST chat/count/, a moment after the typing stops); a message that cannot fit is refused before sending. */
  const counter = document.getElementById("token-count");
  let fit = null;  /* the last count, with the draft it was for */
  let countTimer = null;
  let countSequence = 0;
  function showCount(result, draft) {
    fit = result && result.context ? Object.assign({ draft: draft }, result) : null;
    counter.classList.toggle("is-over", Boolean(fit && !fit.fits));
    counter.removeAttribute("data-draft");
    if (!fit) { counter.textContent = result && result.error ? "Tokens not counted: " + result.error : ""; return; }
    let text = fit.tokens + " / " + fit.context + " tokens";
    if (!fit.fits) {
      text = fit.refusal;
    } else if (fit.drops_turns) {
      text += " · the oldest turns will be left out";
    }
    counter.textContent = text;
    counter.setAttribute("data-draft", draft);
  }
  function countTokens() {
    clearTimeout(countTimer);
    const draft = input.value;
    if (!draft.trim() && !conversationInput.value) { showCount(null, draft); return; }
    countTimer = setTimeout(function () {
      const sequence = ++countSequence;
      const form = new FormData();
      form.append("conversation", conversationInput.value);
      form.append("model", picker.value);
      form.append("system_prompt", fields.system.value);
      form.append("content", draft);
      tigerPost(root.getAttribute("data-count-url"), form).then(function (result) {
        if (sequence !== countSequence || result.sessionEnded || result.status === 0) return;
        let data = null;
        try { data = JSON.parse(result.text); } catch (e) { data = null; }
        showCount(data, draft);
      });
    }, 300);
  }
  input.addEventListener("input", countTokens);
  fields.system.addEventListener("input", countTokens);
  picker.addEventListener("change", countTokens);
  countTokens();

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.hidden = !busy;
    picker.disabled = busy;
    if (!busy) input.focus();
  }

  /* The sticky composer covers the bottom of the window: scrolling (and focus) keeps clear of it through
   * scroll-padding-bottom (app.css reads --composer-height), so the newest answer and its buttons show. */
  function trackComposer() {
    document.documentElement.style.setProperty("--composer-height", composer.offsetHeight + "px");
  }
  if (window.ResizeObserver) new ResizeObserver(trackComposer).observe(composer);
  trackComposer();

  function scrollToEnd() {
    const last = messages.lastElementChild;
    if (!last) return;
    const bottom = last.getBoundingClientRect().bottom;
    if (bottom > composer.getBoundingClientRect().top || bottom < 0) last.scrollIntoView({ block: "end" });
  }
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (messages.contains(event.detail.target) || event.detail.target === messages) scrollToEnd();
  });

  function history() {
    const turns = [];
    const system = fields.system.value;
    if (system.trim()) turns.push({ role: "system", content: system });
    messages.querySelectorAll("article.turn[id^=turn-]").forEach(function (turn) {
      const body = turn.querySelector("[data-content]");
      const full = body && body.getAttribute("data-full");  /* a thinking model's text, reasoning included */
      turns.push({ role: turn.getAttribute("data-role"), content: body ? (full !== null ? full : body.textContent) : "" });
    });
    return turns;
  }

  function showError(where, message) {
    const alert = document.createElement("div");
    alert.className = "alert alert--error";
    alert.setAttribute("role", "alert");
    alert.textContent = message;
    where.appendChild(alert);
    scrollToEnd();
  }

  function streamingBubble() {
    const bubble = document.createElement("article");
    bubble.className = "turn turn--assistant is-streaming";
    bubble.setAttribute("data-role", "assistant");
    bubble.setAttribute("aria-busy", "true");
    const meta = document.createElement("header");
    meta.className = "turn__meta";
    const who = document.createElement("span");
    who.className = "turn__who";
    who.textContent = picker.value;
    meta.appendChild(who);
    const thinking = TigerSocket.reasoningBox();
    const body = document.createElement("div");
    body.className = "turn__body";
    body.setAttribute("data-stream", "");
    const cursor = document.createElement("span");
    cursor.className = "cursor";
    cursor.setAttribute("aria-hidden", "true");
    bubble.append(meta, thinking.box, body, cursor);
    messages.appendChild(bubble);
    return { bubble: bubble, body: body, thinking: thinking, full: "", who: who, model: picker.value,
             revision: "", reason: "" };
  }

  function send() {
    const content = input.value;
    if (!content.trim() || running) return;
    if (fit && !fit.fits && fit.draft === content) {  /* counted too long: refused before anything is saved */
      announce(counter.textContent);
      input.focus();
      return;
    }
    setBusy(true);
    const form = new FormData();
    form.append("conversation", conversationInput.value);
    form.append("model", picker.value);
    form.append("system_prompt", fields.system.value);
    form.append("content", content);
    ["temperature", "top_p", "max_tokens"].forEach(function (name) { form.append(name, fields[name].value); });
    tigerPost(root.getAttribute("data-send-url"), form).then(function (result) {
      if (result.sessionEnded) return;  /* the notice says so; the text stays in the box */
      let errors = null;
      if (result.status === 400) {
        try { errors = JSON.parse(result.text).errors; } catch (e) { errors = null; }
      }
      if (errors && errors.content) {  /* the message itself: too long for the model's context */
        setBusy(false);
        counter.textContent = errors.content;
        counter.classList.add("is-over");
        announce(errors.content);
        return;
      }
      if (errors) {
        setBusy(false);
        showFieldErrors(errors);
        return;
      }
      if (!result.ok) {
        setBusy(false);
        showError(messages, tigerErrorMessage(result.status, result.text));
        return;
      }
      clearFieldErrors();
      if (narrow.matches) settingsPanel.open = false;  /* on a phone the thread needs the room */
      const empty = messages.querySelector("[data-empty]");
      if (empty) empty.remove();
      htmx.swap(messages, result.text, { swapStyle: "beforeend" });
      const id = result.headers.get("X-Conversation-Id");
      if (id && conversationInput.value !== id) {
        conversationInput.value = id;
        answerUrl = root.getAttribute("data-answer-url-pattern").replace("/0/", "/" + id + "/");
        root.setAttribute("data-turns-url", root.getAttribute("data-turns-url-pattern").replace("/0/", "/" + id + "/"));
        history_replace(result.headers.get("X-Conversation-Url"));
      }
      try { localStorage.removeItem(draftKey()); localStorage.removeItem("tiger:draft:" + root.getAttribute("data-user") + ":new"); } catch (e) { /* storage off */ }
      input.value = "";
      showCount(null, "");
      generate();
    });
  }

  function history_replace(url) {
    if (url && window.history && window.history.replaceState) window.history.replaceState(null, "", url);
  }

  /* The conversation as the model sees it, less the `dropped` oldest turns (the system prompt stays). */
  function fitted(dropped) {
    const turns = history();
    const system = turns.length && turns[0].role === "system" ? [turns.shift()] : [];
    return system.concat(turns.slice(dropped));
  }

  function noteDropped(before, dropped) {
    const note = document.createElement("p");
    note.className = "thread-note small";
    note.setAttribute("role", "status");
    note.setAttribute("data-dropped", String(dropped));
    note.textContent = "The oldest " + dropped + " turns were left out of what the model saw: " +
      "the conversation is longer than its context.";
    messages.insertBefore(note, before);
  }

  /* The generation of this conversation's answer goes on if the page reloads: the reloaded page attaches. */
  function resumeKey() { return "chat-" + conversationInput.value; }

  function generate(dropped) {
    dropped = dropped || 0;
    const stream = streamingBubble();
    scrollToEnd();
    announce("Answering…");
    const request = {
      model: picker.value,
      messages: fitted(dropped),
      temperature: TigerSocket.number(fields.temperature),
      top_p: TigerSocket.number(fields.top_p),
      max_tokens: TigerSocket.number(fields.max_tokens),
      resume: resumeKey(),
    };
    Object.keys(request).forEach(function (k) { if (request[k] === undefined) delete request[k]; });
    running = stream;
    stream.id = socket.generate(request, follow(stream, request, dropped));
  }

  /* Reloaded while the answer was being written: follow it (what was written so far, then the rest); the
   * "no answer was saved" marker shows only when the server has nothing to follow. */
  function reattach(marker) {
    const stream = streamingBubble();
    marker.before(stream.bubble);
    running = stream;
    setBusy(true);
    announce("Reattaching to the answer being written…");
    const handlers = follow(stream, null, 0);
    const started = handlers.start;
    stream.id = socket.attach(resumeKey(), Object.assign(handlers, {
      start: function (event) { marker.remove(); started(event); },
      error: function (event) {
        if ((event.error || {}).code !== "generation_not_found") { fail(stream, event.error.message); return; }
        stream.bubble.remove();
        running = null;
        setBusy(false);
        marker.hidden = false;
        announce("");
      },
    }));
  }

  /* The socket handlers of one answer. `request` is what was asked (null for a reattached answer): with
   * it, an answer refused for the context's length is asked again without the oldest exchange. */
  function follow(stream, request, dropped) {
    return {
      start: function (event) {
        stream.model = event.model;
        stream.revision = String(event.revision);
        stream.who.textContent = event.model + " · rev " + event.revision;
      },
      delta: function (event) {
        stream.full += event.text;
        TigerSocket.showDelta(event, stream.body, stream.thinking);
        scrollToEnd();
      },
      finished: function (event) { stream.reason = event.finish_reason; },
      done: function () {
        if (dropped) noteDropped(stream.bubble, dropped);
        save(stream, stream.reason || "stop");
      },
      cancelled: function () { save(stream, "cancelled"); },
      error: function (event) {
        const error = event.error || {};
        const left = request ? request.messages.filter(function (m) { return m.role !== "system"; }).length : 0;
        if (error.code === "context_length_exceeded" && left > 1) {
          /* too long for the context: leave out the oldest exchange and ask again */
          stream.bubble.remove();
          running = null;
          generate(dropped + Math.min(2, left - 1));
          return;
        }
        const hint = error.code === "context_length_exceeded"
          ? " Shorten the message: “Edit and resend” puts it back in the message box." : "";
        fail(stream, (error.message || "The generation failed.") + hint);
      },
      lost: function (reason) { fail(stream, reason); },
    };
  }

  function finishBubble(stream) {
    stream.bubble.classList.remove("is-streaming");
    stream.bubble.removeAttribute("aria-busy");
    const cursor = stream.bubble.querySelector(".cursor");
    if (cursor) cursor.remove();
  }

  function fail(stream, message) {
    finishBubble(stream);
    stream.bubble.classList.add("turn--failed");
    showError(stream.bubble, message);
    running = null;
    setBusy(false);
    announce("The answer failed: " + message);
  }

  function save(stream, reason) {
    if (stream.saved) return;
    stream.saved = true;
    finishBubble(stream);
    const text = stream.full;  /* saved and trained on as generated, reasoning included */
    running = null;
    if (!text) {
      stream.bubble.remove();
      setBusy(false);
      announce("Stopped before any text was written.");
      return;
    }
    const form = new FormData();
    form.append("content", text);
    form.append("model", stream.model);
    form.append("revision", stream.revision);
    form.append("finish_reason", reason);
    tigerPost(answerUrl, form).then(function (result) {
      if (!result.ok) {
        showError(stream.bubble, "The answer could not be saved: " + tigerErrorMessage(result.status, result.text));
      } else {
        htmx.swap(stream.bubble, result.text, { swapStyle: "outerHTML" });
      }
      scrollToEnd();
      setBusy(false);
      countTokens();
      announce(reason === "cancelled" ? "Stopped." : "Answer complete.");
    });
  }

  /* Another tab may have added turns: fetch them when this tab comes back into view. */
  function refreshTurns() {
    const url = root.getAttribute("data-turns-url");
    if (!url || running || document.visibilityState !== "visible") return;
    const ids = Array.from(messages.querySelectorAll("article.turn[id^=turn-]")).map(function (t) {
      return parseInt(t.id.slice(5), 10);
    });
    const after = ids.length ? Math.max.apply(null, ids) : 0;
    fetch(url + "?after=" + after, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) { return response.ok && !response.redirected ? response.text() : ""; })
      .then(function (html) {
        if (!html.trim() || running) return;
        const empty = messages.querySelector("[data-empty]");
        if (empty) empty.remove();
        htmx.swap(messages, html, { swapStyle: "beforeend" });
        scrollToEnd();
        announce("New messages from another tab.");
      }, function () { /* offline: the next focus tries again */ });
  }
  window.addEventListener("focus", refreshTurns);
  document.addEventListener("visibilitychange", refreshTurns);

  document.getElementById("chat-settings").addEventListener("submit", function (event) { event.preventDefault(); });

  /* Turn tools: regenerate an answer, edit-and-resend a message, delete a turn. */
  function deleteTurns(id, fromHere) {
    const form = new FormData();
    form.append("from_here", fromHere ? "1" : "0");  /* an empty multipart body is a 400 */
    return tigerPost(root.getAttribute("data-delete-url-pattern").replace("/0/", "/" + id + "/"), form)
      .then(function (result) {
        if (!result.ok && !result.sessionEnded) tigerToast(tigerErrorMessage(result.status, result.text));
        return result.ok;
      });
  }
  messages.addEventListener("click", function (event) {
    if (running) return;
    const marker = event.target.closest("[data-regenerate]");
    if (marker) {
      marker.closest("[data-interrupted]").remove();
      setBusy(true);
      generate();
      return;
    }
    const again = event.target.closest("[data-regenerate-turn]");
    const edit = event.target.closest("[data-edit-turn]");
    const remove = event.target.closest("[data-delete-turn]");
    const button = again || edit || remove;
    if (!button) return;
    const turn = button.closest("article.turn");
    const id = button.getAttribute(again ? "data-regenerate-turn" : edit ? "data-edit-turn" : "data-delete-turn");
    deleteTurns(id, Boolean(edit)).then(function (ok) {
      if (!ok) return;
      if (edit) {
        const body = turn.querySelector("[data-content]");
        while (turn.nextElementSibling) turn.nextElementSibling.remove();
        input.value = body ? body.textContent : "";
        keepDraft();
        turn.remove();
        input.focus();
        announce("The message is back in the message box; later turns were removed.");
      } else if (again) {
        turn.remove();
        setBusy(true);
        generate();
      } else {
        turn.remove();
        announce("Deleted.");
      }
    });
  });
  composer.addEventListener("submit", function (event) { event.preventDefault(); send(); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  stopButton.addEventListener("click", function () {
    if (running && running.id) socket.cancel(running.id);
  });
  const interrupted = messages.querySelector("[data-interrupted]");
  if (interrupted && conversationInput.value) reattach(interrupted);
  scrollToEnd();
})();
