// The console's review page: pick a moment on the timeline (or the slider) and see the
// client's view then, rendered again by the console's replay; or play a short clip.
"use strict";

(function () {
  const panel = document.getElementById("replay-panel");
  if (!panel) return;
  const base = panel.dataset.base;
  const duration = parseFloat(panel.dataset.duration);
  const svg = document.querySelector("#timeline svg");
  const slider = document.getElementById("replay-at");
  const label = document.getElementById("replay-time");
  const status = document.getElementById("replay-status");
  const view = document.getElementById("replay-view");
  const clipButton = document.getElementById("replay-clip");
  let cursor = null;
  let pending = 0;

  function clock(t) {
    const s = Math.round(t);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function mark(t) {
    if (!svg) return;
    const left = parseFloat(svg.dataset.left), width = parseFloat(svg.dataset.plotWidth);
    const x = left + width * (duration > 0 ? t / duration : 0);
    if (!cursor) {
      cursor = document.createElementNS("http://www.w3.org/2000/svg", "line");
      cursor.setAttribute("class", "replay-cursor");
      svg.appendChild(cursor);
    }
    const height = svg.viewBox.baseVal.height;
    for (const [k, v] of [["x1", x], ["x2", x], ["y1", 0], ["y2", height]]) cursor.setAttribute(k, v);
  }

  async function load(url, what) {
    const mine = ++pending;
    status.textContent = `rendering ${what}…`;
    try {
      const response = await fetch(url, {credentials: "same-origin"});
      if (!response.ok) throw new Error(await response.text());
      const blob = await response.blob();
      if (mine !== pending) return;  // a newer request has been made since
      if (view.src.startsWith("blob:")) URL.revokeObjectURL(view.src);
      view.src = URL.createObjectURL(blob);
      const frame = response.headers.get("X-Replay-Frame");
      const faithful = response.headers.get("X-Replay-Faithful") === "1";
      const at = parseFloat(response.headers.get("X-Replay-Seconds") || "0");
      status.textContent = `${what} at ${clock(at)} (frame ${frame})` +
        (faithful ? "" : " — the replay differs from the record: the scenario has changed since");
      view.dataset.frame = frame;
    } catch (err) {
      if (mine === pending) status.textContent = `could not replay: ${err.message}`;
    }
  }

  function show(t) {
    t = Math.max(0, Math.min(duration, t));
    slider.value = t.toFixed(1);
    label.textContent = clock(t);
    mark(t);
    load(`${base}/view?t=${t.toFixed(3)}`, "view");
  }

  if (svg) {
    svg.setAttribute("data-replay", "1");
    svg.addEventListener("click", (ev) => {
      const rect = svg.getBoundingClientRect();
      const x = (ev.clientX - rect.left) * parseFloat(svg.dataset.width) / rect.width;
      const t = (x - parseFloat(svg.dataset.left)) / parseFloat(svg.dataset.plotWidth) * duration;
      if (t >= 0 && t <= duration) show(t);
    });
  }
  // Each rupture's "view" button replays its moment.
  for (const b of document.querySelectorAll("button.replay-at")) {
    b.addEventListener("click", () => {
      show(parseFloat(b.dataset.t));
      document.getElementById("replay").scrollIntoView({block: "start"});
    });
  }
  slider.addEventListener("input", () => { label.textContent = clock(parseFloat(slider.value)); });
  slider.addEventListener("change", () => show(parseFloat(slider.value)));
  clipButton.addEventListener("click", () => {
    const t = parseFloat(slider.value);
    mark(t);
    load(`${base}/clip?from=${t.toFixed(3)}&to=${Math.min(duration, t + 10).toFixed(3)}&fps=10`, "clip");
  });
})();
