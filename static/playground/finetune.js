/* The Fine-tune panel of a model's page: live progress and loss over the page's websocket.
 *
 * The socket (ws/chat/) carries the user's job events unasked (inference/job_events.py). The panel
 * (#finetune) names its job and status; events of that job move the progress bar and extend the loss
 * chart. When the job ends the page reloads once, so the history shows the new revision. The panel is
 * fetched once each time the socket opens, so nothing that happened before is missed; no polling.
 */
(function () {
  "use strict";

  const ACTIVE = { validating_files: true, queued: true, running: true };
  const LOSS_KEYS = ["train_loss", "dpo_loss"];
  let points = [];
  let pointsJob = null;
  let retry = 1000;

  function panel() { return document.getElementById("finetune"); }

  function readPoints() {
    const p = panel();
    const svg = document.getElementById("finetune-chart");
    const job = p && p.getAttribute("data-job");
    if (job !== pointsJob) {
      pointsJob = job;
      try { points = svg ? JSON.parse(svg.getAttribute("data-points") || "[]") : []; } catch (e) { points = []; }
    }
  }

  function draw() {
    const svg = document.getElementById("finetune-chart");
    if (!svg) return;
    const path = svg.querySelector(".chart__line");
    const text = document.querySelector("#finetune [data-loss-text]");
    if (!points.length) { path.setAttribute("d", ""); if (text) text.textContent = "The loss appears with the first steps."; return; }
    const steps = points.map(function (p) { return p[0]; });
    const losses = points.map(function (p) { return p[1]; });
    const x0 = Math.min.apply(null, steps), x1 = Math.max.apply(null, steps);
    const y0 = Math.min.apply(null, losses), y1 = Math.max.apply(null, losses);
    const d = points.map(function (p, i) {
      const x = x1 > x0 ? (p[0] - x0) / (x1 - x0) * 470 + 5 : 240;
      const y = y1 > y0 ? 150 - (p[1] - y0) / (y1 - y0) * 140 : 80;
      return (i ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
    }).join(" ");
    path.setAttribute("d", d);
    svg.setAttribute("aria-label", "Training loss by step: " + points.length + " steps, last " + losses[losses.length - 1].toFixed(4));
    if (text) text.textContent = "Step " + steps[steps.length - 1] + ": loss " + losses[losses.length - 1].toFixed(4) +
      " (from " + losses[0].toFixed(4) + ")";
  }

  function onEvent(message) {
    const p = panel();
    const job = message.job || {};
    if (!p || p.getAttribute("data-job") !== job.id) return;
    readPoints();
    const data = (message.event && message.event.data) || {};
    const loss = LOSS_KEYS.map(function (k) { return data[k]; }).find(function (v) { return typeof v === "number"; });
    if (message.event && message.event.type === "metrics" && loss !== undefined) {
      points.push([data.step || 0, loss]);
      draw();
    }
    const percent = job.status === "succeeded" ? 100 : (job.total_steps ? Math.floor(100 * job.step / job.total_steps) : 0);
    const bar = document.getElementById("finetune-progress");
    if (bar) { bar.value = percent; bar.textContent = percent + " %"; }
    const label = p.querySelector("[data-progress-text]");
    if (label) label.textContent = percent + " %" + (job.total_steps ? " · step " + job.step + " of " + job.total_steps : "");
    const status = p.querySelector("[data-job-status]");
    if (status) status.textContent = job.status;
    const was = p.getAttribute("data-status");
    p.setAttribute("data-status", job.status);
    if (ACTIVE[was] && !ACTIVE[job.status]) refresh(true);
  }

  /* The panel as the server sees it now; `ended`: the job just finished, so the whole page (history) reloads. */
  function refresh(ended) {
    if (ended) { location.reload(); return; }
    const p = panel();
    if (!p || !window.htmx) return;
    const before = p.getAttribute("data-status");
    htmx.ajax("GET", p.getAttribute("data-panel-url"), { target: "#finetune", swap: "outerHTML" }).then(function () {
      const now = panel();
      if (now && ACTIVE[before] && !ACTIVE[now.getAttribute("data-status")]) location.reload();
    });
  }

  function connect() {
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/chat/");
    socket.onopen = function () {
      retry = 1000;
      const p = panel();
      if (p && ACTIVE[p.getAttribute("data-status")]) refresh(false);  /* catch up on what happened before the socket opened */
    };
    socket.onmessage = function (event) {
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === "finetune.event") onEvent(message);
    };
    socket.onclose = function (event) {
      if (event.code === 4401) { if (window.tigerSessionEnded) window.tigerSessionEnded(); return; }
      setTimeout(connect, retry);  /* a dropped socket comes back, slower each time */
      retry = Math.min(retry * 2, 30000);
    };
  }

  document.addEventListener("htmx:afterSwap", function () { readPoints(); draw(); });
  if (panel()) { readPoints(); draw(); connect(); }
})();
