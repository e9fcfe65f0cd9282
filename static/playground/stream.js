/* The Playground's websocket client for ws/chat/ (protocol: inference/consumers.py).
 *
 * One socket per page, opened on first use and reopened after a drop. generate() sends a request and
 * routes the server's events for its id to the given handlers: start, delta, finished, done, cancelled,
 * error; lost() when the socket closes before the generation ended. attach() follows a resumable
 * generation that another page (this one before a reload) started.
 */
(function () {
  "use strict";

  const TERMINAL = { done: true, cancelled: true, error: true };

  function TigerSocket(path) {
    this.path = path || "/ws/chat/";
    this.socket = null;
    this.opening = null;
    this.handlers = new Map();
    this.counter = 0;
  }

  TigerSocket.prototype.url = function () {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + this.path;
  };

  TigerSocket.prototype.connect = function () {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) return Promise.resolve(this.socket);
    if (this.opening) return this.opening;
    const self = this;
    this.opening = new Promise(function (resolve, reject) {
      const socket = new WebSocket(self.url());
      let opened = false;
      socket.onopen = function () { opened = true; self.socket = socket; self.opening = null; resolve(socket); };
      socket.onmessage = function (event) { self.dispatch(event.data); };
      socket.onclose = function (event) {
        self.socket = null;
        self.opening = null;
        const reason = event.code === 4401
          ? "You are signed out. Sign in again to continue."
          : "The connection to the server was lost. Check that it is running, then try again.";
        if (event.code === 4401 && window.tigerSessionEnded) window.tigerSessionEnded();
        if (!opened) { reject(new Error(reason)); return; }
        self.handlers.forEach(function (h) { if (h.lost) h.lost(reason); });
        self.handlers.clear();
      };
    });
    return this.opening;
  };

  TigerSocket.prototype.dispatch = function (raw) {
    let message;
    try { message = JSON.parse(raw); } catch (e) { return; }
    const handler = this.handlers.get(message.id);
    if (!handler) return;
    if (TERMINAL[message.type]) this.handlers.delete(message.id);
    const fn = handler[message.type];
    if (fn) fn(message);
  };

  /* Start a generation: `request` is the websocket message without type/id. Returns the id. */
  TigerSocket.prototype.generate = function (request, handlers, type) {
    const id = "g" + Date.now().toString(36) + "-" + (++this.counter);
    this.handlers.set(id, handlers);
    const payload = JSON.stringify(Object.assign({ type: type || "generate", id: id }, request));
    const self = this;
    this.connect().then(function (socket) { socket.send(payload); }, function (error) {
      self.handlers.delete(id);
      if (handlers.lost) handlers.lost(error.message);
    });
    return id;
  };

  /* Follow a generation started elsewhere with {resume: key} (a page reloaded while it ran): the server
   * replays its start and frames so far, then the rest, to `handlers`. Returns the id. */
  TigerSocket.prototype.attach = function (resume, handlers) {
    return this.generate({ resume: resume }, handlers, "attach");
  };

  TigerSocket.prototype.cancel = function (id) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "cancel", id: id }));
    }
  };

  /* A folded "Reasoning" section for a model that thinks; hidden until reasoning arrives. */
  TigerSocket.reasoningBox = function () {
    const box = document.createElement("details");
    box.className = "reasoning";
    box.hidden = true;
    box.setAttribute("data-reasoning-box", "");
    const summary = document.createElement("summary");
    summary.textContent = "Reasoning";
    const body = document.createElement("div");
    body.className = "reasoning__body";
    body.setAttribute("data-reasoning", "");
    box.append(summary, body);
    return { box: box, body: body };
  };

  /* Show one delta: split into reasoning and answer when the server split it (a thinking model). */
  TigerSocket.showDelta = function (event, body, thinking) {
    if (event.reasoning === undefined) {
      body.appendChild(document.createTextNode(event.text));
      return;
    }
    if (event.reasoning) {
      thinking.box.hidden = false;
      thinking.body.appendChild(document.createTextNode(event.reasoning));
    }
    const content = body.textContent ? event.content : event.content.replace(/^\s+/, "");  /* after </think> */
    if (content) body.appendChild(document.createTextNode(content));
  };

  /* Numbers from optional inputs: undefined when blank, so the model's defaults apply. */
  TigerSocket.number = function (input) {
    if (!input || input.value.trim() === "") return undefined;
    const value = Number(input.value);
    return Number.isFinite(value) ? value : input.value;
  };

  window.TigerSocket = TigerSocket;
})();
