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

// Coding the session's ruptures after it: the form under "Ruptures and repairs".
(function () {
  const form = document.getElementById("coding");
  if (!form) return;
  const codes = JSON.parse(form.dataset.codes);
  const status = document.getElementById("coding-status");
  const session = (document.getElementById("replay-panel") || {dataset: {}}).dataset.base;

  function show() {
    const action = form.what.value;
    for (const label of form.querySelectorAll("label[data-for]")) {
      label.hidden = !label.dataset.for.split(" ").includes(action);
    }
  }

  function fillCodes() {
    const markers = codes.markers[form.marker.value] || {};
    form.subtype.replaceChildren(new Option("(not coded)", ""),
      ...Object.entries(markers).map(([k, v]) => new Option(v, k)));
  }

  form.what.addEventListener("change", show);
  form.marker.addEventListener("change", fillCodes);
  form.candidate_id.addEventListener("change", () => {
    const text = form.candidate_id.selectedOptions[0] ? form.candidate_id.selectedOptions[0].text : "";
    const marker = text.includes("confrontation") ? "confrontation" : "withdrawal";
    if (form.marker.value !== marker) { form.marker.value = marker; fillCodes(); }
  });
  show();
  fillCodes();
  form.candidate_id.dispatchEvent(new Event("change"));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const action = form.what.value;
    const body = {action, note: form.note.value};
    const wanted = {confirm: ["candidate_id", "marker", "subtype", "salience"],
                    dismiss: ["candidate_id"], mark: ["marker", "subtype", "salience"],
                    repair: ["rupture_id", "strategy"],
                    rate: ["therapist_contribution", "resolution"]}[action];
    for (const name of wanted) {
      const value = form[name].value;
      if (value === "") continue;
      body[name] = ["salience", "therapist_contribution", "resolution"].includes(name) ? Number(value) : value;
    }
    if (action === "repair" && form.resolved.checked) body.resolved = true;
    if (action === "mark") body.at_s = parseFloat(document.getElementById("replay-at").value);
    status.textContent = "recording…";
    try {
      const response = await fetch(`${session}/code`, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      const text = await response.text();
      if (!response.ok) throw new Error(text);
      status.textContent = "recorded";
      location.reload();  // the report, as the log now has it
    } catch (err) {
      status.textContent = err.message;
    }
  });
})();
