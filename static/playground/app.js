/* TigerCity Playground: behaviour shared by every page (dialogs, copy buttons, readable htmx errors). */
(function () {
  "use strict";

  /* ---- Toasts: short readable messages for failures that have no place on the page ---- */
  function toast(message, kind) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const item = document.createElement("p");
    item.className = "toast toast--" + (kind || "error");
    item.textContent = message;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 8000);
  }
  window.tigerToast = toast;

  /* The readable message inside an error page or partial (never raw JSON or a blank panel). */
  function errorMessage(status, text) {
    let message = "";
    try {
      const doc = new DOMParser().parseFromString(text || "", "text/html");
      const marked = doc.querySelector("[data-error-message]");
      if (marked) message = marked.textContent.trim();
    } catch (e) { /* not HTML */ }
    if (!message) {
      try { message = JSON.parse(text).error.message; } catch (e) { /* not the API's JSON */ }
    }
    if (!message) {
      if (status === 403) message = "That is not allowed. Reload the page and try again.";
      else if (status === 404) message = "Not found: it may have been deleted, or it belongs to another account.";
      else if (status >= 500) message = "The server hit an unexpected error. Please try again.";
      else if (status === 0) message = "The server cannot be reached. Check your connection and try again.";
      else message = "That did not work (HTTP " + status + ").";
    }
    return message;
  }
  window.tigerErrorMessage = errorMessage;

  function isLogin(url) {
    return new URL(url, location.href).pathname.replace(/\/$/, "") === "/login";
  }

  /* ---- An ended session: say so, keep the page as it is, offer to sign in and come back here ---- */
  function sessionEnded() {
    const box = document.getElementById("session-ended");
    if (!box) return;
    const next = encodeURIComponent(location.pathname + location.search);
    box.querySelectorAll("a[data-login]").forEach(function (a) { a.href = a.getAttribute("data-login") + "?next=" + next; });
    box.hidden = false;
    document.dispatchEvent(new CustomEvent("tiger:session-ended"));
    const link = box.querySelector("a[data-login]");
    if (link) link.focus();
  }
  window.tigerSessionEnded = sessionEnded;
  function isSessionEnd(status, headers) {
    return status === 401 && headers && headers.get && headers.get("X-Session-Ended") === "1";
  }

  /* POST a form body with the CSRF token; resolves {ok, status, text, headers, sessionEnded}. */
  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  window.tigerPost = function (url, data) {
    const body = data instanceof FormData ? data : new URLSearchParams(data);
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
    }).then(function (response) {
      return response.text().then(function (text) {
        const ended = isSessionEnd(response.status, response.headers) || (response.redirected && isLogin(response.url));
        if (ended) sessionEnded();
        return { ok: response.ok && !ended, status: ended ? 401 : response.status, text: text,
                 headers: response.headers, sessionEnded: ended };
      });
    }, function () {
      return { ok: false, status: 0, text: "", headers: new Headers() };
    });
  };

  /* ---- htmx: swap inline error partials, redirect to sign-in, toast everything else ---- */
  document.addEventListener("htmx:beforeSwap", function (event) {
    const xhr = event.detail.xhr;
    const headers = { get: function (name) { return xhr.getResponseHeader(name); } };
    if (isSessionEnd(xhr.status, headers) || (xhr.responseURL && isLogin(xhr.responseURL))) {
      event.detail.shouldSwap = false;  /* the session ended: keep the page, offer to sign in */
      event.detail.isError = false;
      sessionEnded();
      return;
    }
    if (xhr.status >= 400 && xhr.getResponseHeader("X-Inline-Error")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    if (xhr.getResponseHeader("X-Session-Ended")) return;  /* said by the session-ended notice */
    toast(errorMessage(xhr.status, xhr.responseText));
  });
  document.addEventListener("htmx:sendError", function () {
    toast(errorMessage(0, ""));
  });

  /* ---- Dialogs: [data-open-dialog=id] opens, [data-close-dialog] closes ---- */
  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog && !dialog.open) {
        dialog._opener = opener;
        dialog.showModal();
        const focus = dialog.querySelector("[autofocus]");
        if (focus) focus.focus();
      }
      return;
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) { dialog.close(); reset(dialog); }
    }
  });
  /* A dialog that held a one-time secret is reset as it closes (button or Escape): the secret leaves the page. */
  function reset(dialog) {
    const source = dialog.getAttribute("data-reset-from");
    const template = source && document.getElementById(source);
    const body = dialog.firstElementChild;
    if (template && body && !body.hasAttribute("data-pristine")) {
      body.replaceChildren(template.content.cloneNode(true));
      body.setAttribute("data-pristine", "");
      if (window.htmx) htmx.process(body);
    }
  }
  document.addEventListener("close", function (event) {
    const dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement)) return;
    reset(dialog);
    if (dialog._opener && document.contains(dialog._opener)) dialog._opener.focus();
  }, true);
  document.addEventListener("htmx:afterSwap", function (event) {
    const body = event.detail.target;
    if (body && body.closest && body.closest("dialog[data-reset-from]")) body.removeAttribute("data-pristine");
  });
  /* After a swap, move focus to what needs attention: a field with an error, or what a dialog asks for. */
  document.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail.target;
    if (!target) return;  /* htmx.swap() from a script */
    const scope = (target.closest && target.closest("dialog[open]")) || (target.isConnected ? target : document.getElementById(target.id));
    if (!scope) return;
    const focus = scope.querySelector(scope.tagName === "DIALOG"
      ? "[data-autofocus], [aria-invalid=true], [autofocus]" : "[aria-invalid=true]");
    if (focus) focus.focus();
  });

  /* ---- Copy buttons: [data-copy=selector] ---- */
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    const text = "value" in source && source.tagName === "INPUT" ? source.value : source.textContent;
    const label = button.querySelector("span") || button;
    const done = function (ok) {
      const before = label.textContent;
      label.textContent = ok ? "Copied" : "Select and copy";
      button.setAttribute("data-copied", ok ? "yes" : "no");
      setTimeout(function () { label.textContent = before; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { fallback(); });
    } else {
      fallback();
    }
    function fallback() {
      if (source.tagName === "INPUT") { source.focus(); source.select(); }
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok);
    }
  });

  /* A model was trained: pickers that show its revision show the new one. */
  document.body.addEventListener("tiger:model-trained", function (event) {
    const detail = event.detail || {};
    document.querySelectorAll("select option").forEach(function (option) {
      if (option.value === detail.key) {
        option.textContent = option.textContent.replace(/\(rev \d+\)$/, "(rev " + detail.revision + ")");
      }
    });
  });

  /* ---- Small conveniences ---- */
  /* select[data-autosubmit]: choosing opens it, so what the picker shows is always what the page works on. */
  document.addEventListener("change", function (event) {
    const select = event.target.closest && event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit();
  });

  /* <details data-open-wide> starts open on wide screens (the chat's conversation list). */
  const wide = window.matchMedia("(min-width: 900px)");
  function openWide() {
    document.querySelectorAll("details[data-open-wide]").forEach(function (d) { if (wide.matches) d.open = true; });
  }
  openWide();
  wide.addEventListener("change", openWide);

  /* Behaviour that would otherwise be inline handlers, which the Content-Security-Policy forbids. */
  document.addEventListener("submit", function (event) {
    if (event.target.matches("form[data-no-submit]")) event.preventDefault();
  });
  document.addEventListener("click", function (event) {
    const back = event.target.closest("a[data-history-back]");
    if (back && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
})();
