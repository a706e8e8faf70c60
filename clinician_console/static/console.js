// The vret console page: one WebSocket to the console process; a tab per session.
// Every control sends a command and shows its result; nothing fails silently.
"use strict";

const $ = (id) => document.getElementById(id);
const sessions = new Map();   // id -> session state (plots, spec, logs)
let current = null;           // the session shown
let socket = null;
let nextId = 1;
const pending = new Map();    // command id -> label

// Ages of the newest sample when it reached this page (ms): the console benchmark reads them.
window.vretStats = {ages: [], received: 0};
window.vretAcks = {};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) node.append(child);
  return node;
}

function session(id) {
  if (!sessions.has(id)) {
    const s = {id, state: null, spec: null, scene: null, params: null, frame: null,
               connected: true, alerts: [], results: [], log: [], rupture: null,
               controller: null, plots: null, band: [40, 70]};
    sessions.set(id, s);
    const tab = el("button", {class: "tab", type: "button", textContent: id});
    tab.dataset.session = id;
    tab.addEventListener("click", () => show(id));
    $("tabs").append(tab);
    s.tab = tab;
    if (current === null) show(id);
  }
  return sessions.get(id);
}

function makePlots() {
  const p = {
    hr: new TimePlot($("p-hr")), eda: new TimePlot($("p-eda")),
    suds: new TimePlot($("p-suds"), {min: 0, max: 100}), level: new TimePlot($("p-level")),
    look: new TimePlot($("p-look"), {min: 0, max: 1}),
  };
  p.hr.line("heart_rate", "#c0392b");
  p.eda.line("eda", "#2471a3");
  p.suds.line("suds", "#7d3c98", {points: true});
  p.level.line("rung", "#1e8449", {step: true});
  p.level.line("intensity", "#d68910", {step: true});
  p.look.line("looking_share", "#117a65");
  return p;
}

// ------------------------------------------------------------------ showing a session

function show(id) {
  current = id;
  $("clients").hidden = true;
  $("session").hidden = false;
  for (const s of sessions.values()) s.tab.classList.toggle("active", s.id === id);
  $("tab-clients").classList.remove("active");
  const s = sessions.get(id);
  if (!s.plots) s.plots = makePlots();
  renderAll(s);
}

function renderAll(s) {
  buildControls(s);
  renderBadges(s);
  renderHeadset(s);
  renderFrame(s);
  renderList($("alerts"), s.alerts, (a) => el("li", {class: a.severity}, `${a.code}: ${a.message}`));
  renderList($("results"), s.results, (r) => el("li", {class: r.ok ? "ok" : "error"}, r.text));
  renderList($("log"), s.log, (e) => el("li", {}, e));
  renderController(s);
  renderRisk(s);
  for (const plot of Object.values(s.plots)) { plot.dirty = true; }
}

function renderList(node, items, make) {
  node.replaceChildren(...items.slice(-200).reverse().map(make));
}

function rungLabel(s, rung) {
  const rungs = s.spec && s.spec.scenario && s.spec.scenario.rungs;
  if (rungs && rungs[rung]) return `${rung}: ${rungs[rung].label}`;
  return `${rung}`;
}

function renderBadges(s) {
  if (s.id !== current) return;
  const scene = s.scene || {};
  $("b-state").textContent = s.connected ? (s.state || "…") : "connection lost";
  $("b-state").className = "badge state-" + (s.connected ? (s.state || "none") : "lost");
  $("b-rung").textContent = "rung " + (scene.rung != null ? rungLabel(s, scene.rung) : "–");
  $("b-intensity").textContent = "intensity " + (scene.intensity != null ? scene.intensity.toFixed(2) : "–");
  $("b-look").textContent = "looking " + (scene.looking_share != null ? Math.round(scene.looking_share * 100) + " %" : "–");
  const sc = s.spec && s.spec.scenario;
  $("b-scenario").textContent = sc ? (sc.title || sc.name) : "scenario";
  const params = $("params");
  if (s.params) {
    params.replaceChildren(...Object.entries(s.params.values).map(([k, v]) => {
      const p = ((sc && sc.parameters) || []).find((x) => x.name === k);
      return el("tr", {}, el("td", {}, p ? p.label : k), el("td", {}, `${v.toFixed(2)} ${p ? p.unit : ""}`));
    }));
  }
}

function renderHeadset(s) {
  if (s.id !== current) return;
  const badge = $("b-headset");
  badge.hidden = !s.headset;
  if (!s.headset) return;
  // Only "focused" means the client sees the session and can reach its stop.
  badge.textContent = "headset " + (s.headset === "focused" ? "on" : s.headset);
  badge.className = "badge " + (s.headset === "focused" ? "headset-on" : "headset-away");
}

function renderFrame(s) {
  if (s.id !== current) return;
  if (s.frame) {
    $("mirror").src = "data:image/jpeg;base64," + s.frame.jpeg;
    $("mirror-none").hidden = true;
  } else {
    $("mirror").removeAttribute("src");
    $("mirror-none").hidden = false;
  }
}

function buildControls(s) {
  const spec = s.spec || {};
  const sc = spec.scenario || {};
  const rung = $("rung");
  rung.replaceChildren(...(sc.rungs || []).map((r, i) => el("option", {value: i, textContent: `${i}: ${r.label}`})));
  rung.onchange = () => {
    const r = (sc.rungs || [])[rung.value];
    $("rung-description").textContent = r ? r.description || "" : "";
  };
  rung.onchange();
  $("events").replaceChildren(...(sc.live_events || []).map((e) => {
    const b = el("button", {type: "button", textContent: e.label || e.name, title: e.description || ""});
    b.addEventListener("click", () => send("trigger", {event: e.name}, `event ${e.name}`));
    return b;
  }));
  const avatar = spec.avatar || {};
  $("avatar-box").hidden = avatar.present === false;
  $("line").replaceChildren(...(avatar.lines || []).map((l) => el("option", {value: l.id, textContent: `${l.id}: ${l.text.slice(0, 60)}`})));
  $("gestures").replaceChildren(...(avatar.gestures || []).map((g) => {
    const b = el("button", {type: "button", textContent: g.replace("_", " ")});
    b.addEventListener("click", () => send("gesture", {gesture: g}, `gesture ${g}`));
    return b;
  }));
  $("max-rung").max = Math.max(0, (sc.rungs || []).length - 1);
  buildForms(s);
  buildRuptureControls(s);
}

// ------------------------------------------------------------------ ruptures

function buildRuptureControls(s) {
  const codes = (s.spec && s.spec.ruptures) || {markers: {}, strategies: {}};
  const marker = $("r-marker");
  const fillCodes = () => $("r-code").replaceChildren(el("option", {value: "", textContent: "(not coded)"}),
    ...Object.entries(codes.markers[marker.value] || {}).map(([k, v]) => el("option", {value: k, textContent: v})));
  marker.onchange = fillCodes;
  fillCodes();
  $("r-strategy").replaceChildren(...Object.entries(codes.strategies).map(([k, v]) => el("option", {value: k, textContent: v})));
  const lines = ((s.spec && s.spec.avatar && s.spec.avatar.lines) || []).filter((l) => l.category === "repair");
  $("r-line").replaceChildren(el("option", {value: "", textContent: "(none: I said it)"}),
    ...lines.map((l) => el("option", {value: l.id, "data-strategy": l.strategy || "", textContent: `${l.strategy}: ${l.text.slice(0, 50)}`})));
  $("r-line").onchange = () => {
    const o = $("r-line").selectedOptions[0];
    if (o && o.dataset.strategy) $("r-strategy").value = o.dataset.strategy;  // the line's own strategy
  };
  renderCandidates(s);
}

function renderCandidates(s) {
  if (s.id !== current) return;
  const open = [...(s.candidates || new Map()).values()];
  const list = $("candidates");
  if (!open.length) {
    list.replaceChildren(el("li", {class: "muted", textContent: "none waiting"}));
  } else {
    list.replaceChildren(...open.map((c) => {
      const li = el("li", {"data-candidate": c.candidate_id, class: c.candidate_id === s.chosenCandidate ? "chosen" : "",
                           title: c.evidence, tabIndex: 0},
        `${c.marker} ${Math.round(c.confidence * 100)}% at ${c.t.toFixed(0)} s: ${c.signals.join(", ")}`);
      li.addEventListener("click", () => chooseCandidate(s, c.candidate_id));
      return li;
    }));
  }
  const chosen = s.chosenCandidate && s.candidates && s.candidates.has(s.chosenCandidate);
  $("confirm-candidate").disabled = !chosen;
  $("dismiss-candidate").disabled = !chosen;
}

function chooseCandidate(s, id) {
  s.chosenCandidate = id;
  const c = s.candidates.get(id);
  if (c && $("r-marker").value !== c.marker) { $("r-marker").value = c.marker; $("r-marker").onchange(); }
  renderCandidates(s);
}

function ruptureArgs(marker) {
  const args = {marker, note: $("note").value};
  if ($("r-code").value && $("r-marker").value === marker) args.subtype = $("r-code").value;
  if ($("r-salience").value) args.salience = Number($("r-salience").value);
  return args;
}

function repairArgs(s, withLine) {
  const args = {rupture_id: s.rupture, strategy: $("r-strategy").value || "unspecified",
                note: $("note").value};
  if ($("r-resolved").checked) args.resolved = true;
  if (withLine && $("r-line").value) args.line_id = $("r-line").value;
  return args;
}

// ------------------------------------------------------------------ questionnaires

let filling = null;  // the form open on this screen: {session, form, timing, warned}

function buildForms(s) {
  // The forms the server can give and score (its catalogue, with the site's licensed text).
  const forms = (s.spec && s.spec.questionnaires) || [];
  s.forms = new Map(forms.map((f) => [f.id, f]));
  const options = (keep) => forms.filter(keep).flatMap((f) => f.timing.map((t) =>
    el("option", {value: `${f.id}:${t}`, textContent: `${f.name} (${t}${f.respondent === "therapist" ? ", therapist" : ""})`})));
  // In the scene: the client's own forms of more than one item (ratings are check-ins).
  $("form-instrument").replaceChildren(...options((f) => f.respondent === "client" && f.items.length > 1));
  $("fill-instrument").replaceChildren(...options((f) => f.items.length > 1));
}

function scaleValues(scale) {
  const values = [];
  for (let v = scale.low; v <= scale.high + 1e-9; v += scale.step) values.push(Math.round(v * 1000) / 1000);
  return values;
}

function conditionHolds(cond, answers) {
  if (!cond || !cond.item) return true;  // a condition on a score is decided by the server
  const v = answers[cond.item];
  if (v === undefined) return false;
  return {">": v > cond.value, ">=": v >= cond.value, "<": v < cond.value, "<=": v <= cond.value,
          "==": v === cond.value, "!=": v !== cond.value}[cond.op];
}

function fillAnswers() {
  const answers = {};
  for (const li of $("fill-items").children) {
    if (li.hidden) continue;
    const checked = li.querySelector("input[type=radio]:checked");
    const typed = li.querySelector("input[type=number]");
    if (checked) answers[li.dataset.item] = Number(checked.value);
    else if (typed && typed.value !== "") answers[li.dataset.item] = Number(typed.value);
  }
  return answers;
}

function showConditional() {
  if (!filling) return;
  const answers = fillAnswers();
  for (const li of $("fill-items").children) {
    const item = filling.form.items.find((i) => i.id === li.dataset.item);
    li.hidden = !conditionHolds(item.asked_when, answers);
  }
}

function openFill() {
  const s = sessions.get(current);
  const [id, timing] = ($("fill-instrument").value || ":").split(":");
  const form = s && s.forms && s.forms.get(id);
  if (!form) { addResult(s, false, "fill in: no questionnaire chosen"); return; }
  filling = {session: current, form, timing, warned: false};
  $("fill-title").textContent = `${form.title} (${timing})`;
  $("fill-who").textContent = (form.respondent === "therapist"
    ? "Answered by you, the therapist." : "Answered by the client: hand them this screen.") +
    (form.validated ? "" : " Not a validated instrument.") + ` ${form.licence}`;
  $("fill-instructions").textContent = form.instructions || "";
  $("fill-error").textContent = "";
  $("fill-items").replaceChildren(...form.items.map((item) => {
    const values = scaleValues(item.scale);
    let answer;
    if (values.length <= 21) {
      answer = el("div", {class: "scale"}, ...values.map((v) => {
        const label = item.anchors[String(v)];
        const input = el("input", {type: "radio", name: `fill-${item.id}`, value: String(v)});
        input.addEventListener("change", showConditional);
        return el("label", {}, input, ` ${label ? `${v} ${label}` : v}`);
      }));
    } else {
      const input = el("input", {type: "number", min: item.scale.low, max: item.scale.high, step: item.scale.step});
      input.addEventListener("input", showConditional);
      answer = el("div", {class: "scale"}, input,
        el("span", {class: "anchors", textContent: `${item.scale.low} ${item.anchors[String(item.scale.low)] || ""} … ${item.scale.high} ${item.anchors[String(item.scale.high)] || ""}`}));
    }
    return el("li", {"data-item": item.id, value: item.number}, el("span", {textContent: item.text}), answer);
  }));
  showConditional();
  $("fill").hidden = false;
  $("fill").scrollIntoView({block: "nearest"});
}

function closeFill() {
  filling = null;
  $("fill").hidden = true;
  $("fill-items").replaceChildren();
}

function submitFill(ev) {
  ev.preventDefault();
  if (!filling) return;
  const answers = fillAnswers();
  const missing = filling.form.items.filter((i) => i.required && !(i.id in answers) &&
    !(i.asked_when && i.asked_when.score) && conditionHolds(i.asked_when, answers)).map((i) => i.number);
  if (missing.length && !filling.warned) {
    filling.warned = true;
    $("fill-error").textContent = `Not answered: item${missing.length > 1 ? "s" : ""} ${missing.join(", ")}. ` +
      "Submit again to record it with them missing (scored by the instrument's missing-item rule).";
    return;
  }
  $("fill-error").textContent = "";
  send("submit_questionnaire", {instrument: filling.form.id, answers: JSON.stringify(answers),
                                timing: filling.timing, respondent: filling.form.respondent},
       `questionnaire ${filling.form.id}`, filling.session);
}

function renderController(s) {
  if (s.id !== current) return;
  const c = s.controller;
  if (!c) return;
  $("mode").value = c.mode;
  $("band-low").value = c.rules.band[0];
  $("band-high").value = c.rules.band[1];
  $("hold").value = c.rules.hold_s;
  $("interval").value = c.rules.min_interval_s;
  $("controller-why").textContent = c.mode === "manual" ? "" : (c.why || "");
  $("max-rung").value = c.rules.max_rung;
  $("hr-excess").value = c.rules.hr_excess_bpm ?? "";
  const p = c.pending;
  $("proposal").hidden = !p;
  if (p) $("proposal-text").textContent = p.summary;
  s.band = c.rules.band;
  if (s.plots) { s.plots.suds.band = c.rules.band; s.plots.suds.dirty = true; }
}

// ------------------------------------------------------------------ incoming

function receive(update) {
  const s = update.session ? session(update.session) : null;
  if (update.t_wall_ms && (update.type === "series" || update.type === "scene")) {
    const stats = window.vretStats;
    stats.received++;
    stats.ages.push(Date.now() - update.t_wall_ms);
    if (stats.ages.length > 20000) stats.ages.splice(0, 10000);
  }
  switch (update.type) {
    case "hello":
      for (const id of update.sessions) session(id);
      break;
    case "history":
      s.state = update.state; s.spec = update.spec; s.scene = update.scene;
      s.params = update.params; s.frame = update.frame; s.connected = update.connected;
      if (s.spec && s.spec.headset) s.headset = s.spec.headset.state;
      if (!s.plots) s.plots = makePlots();
      for (const [name, data] of Object.entries(update.series)) plotAdd(s, name, data.t, data.v);
      for (const e of update.events) onEvent(s, e);
      if (s.id === current) renderAll(s);
      break;
    case "spec":
      s.spec = update.spec;
      if (s.spec.headset && !s.headset) s.headset = s.spec.headset.state;
      if (s.id === current) { buildControls(s); renderBadges(s); renderHeadset(s); }
      break;
    case "series":
      plotAdd(s, update.name, update.t, update.v);
      break;
    case "scene":
      s.scene = update;
      plotAdd(s, "rung", [update.t], [update.rung]);
      plotAdd(s, "intensity", [update.t], [update.intensity]);
      plotAdd(s, "looking_share", [update.t], [update.looking_share]);
      renderBadges(s);
      break;
    case "params":
      s.params = update; renderBadges(s);
      break;
    case "frame":
      s.frame = update; renderFrame(s);
      break;
    case "state":
      s.state = update.state; renderBadges(s);
      break;
    case "connection":
      s.connected = update.connected; renderBadges(s);
      if (!update.connected) addAlert(s, {code: "connection_lost", severity: "critical", message: "no messages from the session"});
      break;
    case "event":
      onEvent(s, update);
      if (s.id === current) renderList($("log"), s.log, (e) => el("li", {}, e));
      break;
    case "alert":
      addAlert(s, update);
      break;
    case "controller":
      s.controller = update; renderController(s);
      break;
    case "controller_note":
      if (s.id === current) $("controller-note").textContent = update.text;
      break;
    case "result":
      onResult(s, update);
      break;
    case "error":
      if (s) addResult(s, false, update.error); else console.warn(update.error);
      break;
  }
}

function plotAdd(s, name, t, v) {
  if (!s.plots) s.plots = makePlots();
  const target = {heart_rate: "hr", eda: "eda", rung: "level", intensity: "level",
                  looking_share: "look", suds: "suds"}[name];
  if (target && v.length && v[0] != null) s.plots[target].add(name, t, v);
}

const MARK_COLORS = {level_change: "#1e8449", checkin_answered: "#7d3c98", state_change: "#909090",
                     rupture_marked: "#c0392b", repair_marked: "#2471a3", scenario_event: "#d68910"};

function onEvent(s, update) {
  const e = update.event;
  const t = update.t;
  let text = `${t.toFixed(1)} s  ${e.kind}`;
  if (e.kind === "state_change") { text += `: ${e.from_state} → ${e.to_state}`; s.state = e.to_state; }
  else if (e.kind === "level_change") text += `: ${rungLabel(s, e.rung)} at ${e.intensity.toFixed(2)}${e.reason ? " (" + e.reason + ")" : ""}`;
  else if (e.kind === "checkin_answered") {
    text += `: ${e.instrument} ${e.answered ? e.value : "not answered"}`;
    if (e.instrument === "suds" && e.answered) plotAdd(s, "suds", [t], [e.value]);
  } else if (e.kind === "avatar_utterance") text += `: “${e.text}”`;
  else if (e.kind === "rupture_marked") {
    text += `: ${e.marker}${e.subtype ? " / " + e.subtype : ""}${e.salience ? ", salience " + e.salience : ""} (${e.rupture_id}${e.candidate_id ? ", from " + e.candidate_id : ""})`;
    s.rupture = e.rupture_id;
    if (e.candidate_id && s.candidates) { s.candidates.delete(e.candidate_id); renderCandidates(s); }
  } else if (e.kind === "rupture_candidate") {
    text += `: ${e.marker} ${Math.round(e.confidence * 100)}% (${e.signals.join(", ")})`;
    if (!s.candidates) s.candidates = new Map();
    s.candidates.set(e.candidate_id, {...e, t});
    addAlert(s, {code: "rupture_candidate", severity: "info", message: `${e.marker}? ${e.signals.join(", ")}`});
    renderCandidates(s);
  } else if (e.kind === "candidate_dismissed") {
    text += `: ${e.candidate_id}`;
    if (s.candidates) { s.candidates.delete(e.candidate_id); renderCandidates(s); }
  } else if (e.kind === "repair_marked") {
    text += `: ${e.rupture_id} by ${e.strategy}${e.line_id ? " (the avatar: " + e.line_id + ")" : ""}${e.resolved ? ", resolved" : ""}`;
  } else if (e.kind === "rupture_rating") {
    text += `: my contribution ${e.therapist_contribution ?? "–"}, resolution ${e.resolution ?? "–"}`;
  }
  else if (e.kind === "controller_decision") text += `: ${e.decision} ${e.action} — ${e.summary}`;
  else if (e.kind === "alert") { text += `: ${e.code} ${e.message}`; }
  else if (e.kind === "questionnaire_response") {
    text += `: ${e.instrument} (${e.timing})${e.complete ? "" : " left unfinished"}` +
      `${e.flags.length ? ", flags: " + e.flags.join(", ") : ""}`;
  } else if (e.kind === "questionnaire_started") text += `: ${e.instrument} in the scene`;
  else if (e.kind === "rating_panel") {
    text += e.action === "shown" ? `: shown “${e.question.split("\n").pop()}”`
                                 : `: the answer shown (${e.value ?? "none"})`;
  }
  else if (e.kind === "risk_acknowledged") {
    text += `: ${e.response_id}`;
    s.risks = (s.risks || []).filter((id) => id !== e.response_id);
    renderRisk(s);
  }
  else if (e.kind === "annotation") text += `: ${e.text}`;
  else if (e.kind === "headset_state") {
    text += `: ${e.previous} → ${e.state} (${e.reason})`;
    s.headset = e.state; renderHeadset(s);
  }
  else if (e.kind === "scenario_event") text += `: ${e.name}`;
  s.log.push(text);
  if (s.log.length > 2000) s.log.shift();
  const color = MARK_COLORS[e.kind];
  if (color && s.plots) for (const plot of Object.values(s.plots)) plot.mark(t, e.kind, color);
  if (e.kind === "alert" && (e.code === "client_stop" || e.code === "console_lost"
                             || e.code === "questionnaire_flag" || e.code === "headset_away"
                             || e.code === "headset_error")) {
    addAlert(s, {code: e.code, severity: e.severity, message: e.message});
  }
  if (e.kind === "alert" && e.code === "questionnaire_flag" && e.details.requires_acknowledgement
      && !(s.risks || []).includes(e.details.response_id)) {
    s.risks = [...(s.risks || []), e.details.response_id];  // exposure is held until acknowledged
    renderRisk(s);
  }
}

function renderRisk(s) {
  if (s.id === current) $("ack-risk").disabled = !(s.risks && s.risks.length);
}

function addAlert(s, a) {
  s.alerts.push(a);
  if (s.id === current) renderList($("alerts"), s.alerts, (x) => el("li", {class: x.severity}, `${x.code}: ${x.message}`));
}

function addResult(s, ok, text) {
  s.results.push({ok, text});
  if (s.results.length > 500) s.results.shift();
  if (s.id === current) renderList($("results"), s.results, (r) => el("li", {class: r.ok ? "ok" : "error"}, r.text));
}

function onResult(s, r) {
  const label = pending.get(r.id) || r.name;
  pending.delete(r.id);
  const by = r.by === "console" ? " (console)" : "";
  if (r.ok) {
    const ack = r.ack || {};
    window.vretAcks[label] = ack;  // the last ack of each control (the browser tests read it)
    const res = ack.result || {};
    let text = `${label}${by}: done at frame ${ack.frame ?? "–"}, state ${res.state ?? "–"}`;
    if (res.checkin_id) text += ` (${res.checkin_id})`;
    if (res.rupture_id) { text += ` (${res.rupture_id})`; s.rupture = res.rupture_id; }
    if (res.response_id) {
      const scores = Object.entries(res).filter(([k]) => k.startsWith("score."))
        .map(([k, v]) => `${k.slice(6)} ${v === null ? "–" : Math.round(v * 100) / 100}`);
      text += ` (${res.response_id}${scores.length ? "; " + scores.join(", ") : ""}` +
        `${res.flags ? "; flags: " + res.flags : ""})`;
      if (filling && label === `questionnaire ${filling.form.id}`) closeFill();
    }
    addResult(s, true, text);
  } else {
    addResult(s, false, `${label}${by}: ${r.error}`);
    if (filling && label === `questionnaire ${filling.form.id}`) $("fill-error").textContent = r.error;
  }
}

// ------------------------------------------------------------------ outgoing

function send(name, args = {}, label = name, sessionId = current) {
  if (!sessionId) return;
  const id = `c${nextId++}`;
  pending.set(id, label);
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    addResult(sessions.get(sessionId), false, `${label}: not sent, the console is not connected`);
    return;
  }
  socket.send(JSON.stringify({type: "command", id, session: sessionId, name, args}));
}

function sendControl(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function wire() {
  $("stop").addEventListener("click", () => send("stop", {reason: "stop button"}, "STOP"));
  $("recentre").addEventListener("click", () => {
    const posture = $("posture").value;
    send("recentre", posture ? {posture} : {}, `recentre${posture ? " (" + posture + ")" : ""}`);
  });
  for (const b of document.querySelectorAll("[data-cmd]")) {
    b.addEventListener("click", () => send(b.dataset.cmd));
  }
  for (const b of document.querySelectorAll("[data-checkin]")) {
    b.addEventListener("click", () => send("ask_checkin", {instrument: b.dataset.checkin}, `ask ${b.dataset.checkin}`));
  }
  $("give-form").addEventListener("click", () => {
    const [instrument, timing] = ($("form-instrument").value || ":").split(":");
    if (!instrument) return;
    send("give_questionnaire", {instrument, timing}, `give ${instrument}`);
  });
  $("fill-open").addEventListener("click", openFill);
  $("fill-cancel").addEventListener("click", closeFill);
  $("fill-form").addEventListener("submit", submitFill);
  $("ack-risk").addEventListener("click", () => {
    const s = sessions.get(current);
    if (!s || !s.risks || !s.risks.length) return;
    // After assessing the client: the note says what the assessment found.
    send("acknowledge_risk", {response_id: s.risks[0], note: $("note").value || "assessed"},
         "acknowledge risk");
  });
  for (const b of document.querySelectorAll("[data-rupture]")) {
    b.addEventListener("click", () => send("mark_rupture", ruptureArgs(b.dataset.rupture), `mark ${b.dataset.rupture}`));
  }
  $("confirm-candidate").addEventListener("click", () => {
    const s = sessions.get(current);
    if (!s || !s.chosenCandidate) return;
    const args = ruptureArgs($("r-marker").value);  // the marker as chosen: recoded or not
    args.candidate_id = s.chosenCandidate;
    send("mark_rupture", args, `confirm ${s.chosenCandidate}`);
  });
  $("dismiss-candidate").addEventListener("click", () => {
    const s = sessions.get(current);
    if (!s || !s.chosenCandidate) return;
    send("dismiss_candidate", {candidate_id: s.chosenCandidate, note: $("note").value}, `dismiss ${s.chosenCandidate}`);
  });
  $("repair").addEventListener("click", () => {
    const s = sessions.get(current);
    if (!s || !s.rupture) { addResult(s, false, "mark repair: no rupture marked yet"); return; }
    send("mark_repair", repairArgs(s, !!$("r-line").value), "mark repair");
  });
  $("repair-avatar").addEventListener("click", () => {
    const s = sessions.get(current);
    if (!s || !s.rupture) { addResult(s, false, "repair through the avatar: no rupture marked yet"); return; }
    if (!$("r-line").value) { addResult(s, false, "repair through the avatar: choose the avatar's line"); return; }
    send("speak", {line_id: $("r-line").value}, `say ${$("r-line").value}`);
    send("mark_repair", repairArgs(s, true), "mark repair");
  });
  $("rate-ruptures").addEventListener("click", () => {
    const args = {note: $("note").value};
    if ($("r-contribution").value) args.therapist_contribution = Number($("r-contribution").value);
    if ($("r-resolution").value) args.resolution = Number($("r-resolution").value);
    send("rate_ruptures", args, "rate ruptures");
  });
  $("annotate").addEventListener("click", () => send("annotate", {text: $("note").value}, "note"));
  $("intensity").addEventListener("input", () => { $("intensity-out").textContent = $("intensity").value; });
  $("set-level").addEventListener("click", () => {
    send("set_level", {rung: Number($("rung").value), intensity: Number($("intensity").value)},
         `set level ${$("rung").value}`);
  });
  $("say").addEventListener("click", () => send("speak", {text: $("say-text").value}, "speak"));
  $("say-line").addEventListener("click", () => send("speak", {line_id: $("line").value}, `say ${$("line").value}`));
  $("apply-controller").addEventListener("click", () => {
    const rules = {band: [Number($("band-low").value), Number($("band-high").value)],
                   hold_s: Number($("hold").value), min_interval_s: Number($("interval").value)};
    if ($("max-rung").value !== "") rules.max_rung = Number($("max-rung").value);
    rules.hr_excess_bpm = $("hr-excess").value === "" ? null : Number($("hr-excess").value);
    sendControl({type: "controller", session: current, mode: $("mode").value, rules});
  });
  $("accept").addEventListener("click", () => decide(true));
  $("reject").addEventListener("click", () => decide(false));
  $("apply-plan").addEventListener("click", () => {
    if ($("plan-client").value) sendControl({type: "plan", session: current, client_id: $("plan-client").value});
  });
  $("tab-clients").addEventListener("click", showClients);
  $("new-client").addEventListener("click", newClient);
  $("add-item").addEventListener("click", () => addItemRow({}));
  $("save-hierarchy").addEventListener("click", saveHierarchy);
  $("plan-form").addEventListener("submit", savePlan);
}

function decide(accept) {
  const s = sessions.get(current);
  if (!s || !s.controller || !s.controller.pending) return;
  sendControl({type: "decide", session: current, proposal: s.controller.pending.id, accept});
}

// ------------------------------------------------------------------ clients and plans

let openClient = null;

function note(text, ok) {
  $("client-error").textContent = text;
  $("client-error").className = ok ? "ok-note" : "error";
}

async function api(method, path, body) {
  const response = await fetch(path, {method, headers: {"Content-Type": "application/json"},
                                      body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await response.text();
  if (!response.ok) throw new Error(text || response.statusText);
  return text ? JSON.parse(text) : null;
}

async function loadClients() {
  try {
    const clients = await api("GET", "/api/clients");
    $("client-list").replaceChildren(...clients.map((c) => {
      const b = el("button", {type: "button", textContent: c.client_id + (c.goal ? ` — ${c.goal}` : "")});
      b.addEventListener("click", () => openClientDetail(c.client_id));
      return el("li", {}, b);
    }));
    $("plan-client").replaceChildren(...clients.map((c) => el("option", {value: c.client_id, textContent: c.client_id})));
  } catch (err) {
    $("client-list").replaceChildren(el("li", {class: "muted"}, String(err.message)));
  }
}

function showClients() {
  $("session").hidden = true;
  $("clients").hidden = false;
  for (const s of sessions.values()) s.tab.classList.remove("active");
  $("tab-clients").classList.add("active");
  loadClients();
}

async function newClient() {
  try {
    const c = await api("POST", "/api/clients", {goal: $("new-goal").value});
    await loadClients();
    openClientDetail(c.client_id);
  } catch (err) { note(err.message, false); }
}

function addItemRow(item) {
  const row = el("tr", {},
    el("td", {}, el("input", {value: item.situation || "", maxLength: 200})),
    el("td", {}, el("input", {type: "number", min: 0, max: 100, value: item.initial_suds ?? 50})),
    el("td", {}, el("input", {value: item.scenario || "heights"})),
    el("td", {}, el("input", {type: "number", min: 0, value: item.rung ?? 0})),
    el("td", {}, el("button", {type: "button", textContent: "remove", onclick: () => row.remove()})));
  $("hierarchy").tBodies[0].append(row);
}

async function openClientDetail(id) {
  openClient = id;
  $("client-error").textContent = "";
  try {
    const detail = await api("GET", `/api/clients/${id}`);
    $("client-detail").hidden = false;
    $("client-title").textContent = `Client ${id}` + (detail.client.goal ? ` — ${detail.client.goal}` : "");
    $("hierarchy").tBodies[0].replaceChildren();
    for (const item of detail.hierarchy) addItemRow(item);
    const form = $("plan-form");
    const plan = detail.plan || {};
    form.scenario.value = plan.scenario || "";
    form.start_rung.value = plan.start_rung ?? 0;
    form.band_low.value = (plan.band || [40, 70])[0];
    form.band_high.value = (plan.band || [40, 70])[1];
    form.controller.value = plan.controller || "manual";
    // A new plan starts with SUDS every 5 minutes (and, with any interval, at each new rung).
    form.checkin_every_s.value = detail.plan ? (plan.checkin_every_s ?? "") : 300;
    form.consent.checked = !!plan.consent;
    form.max_rung.value = plan.max_rung ?? "";
    form.trial_criterion.value = plan.trial_criterion || "time";
    form.trial_min_s.value = plan.trial_min_s ?? 120;
    $("past").tBodies[0].replaceChildren(...detail.sessions.map((x) => el("tr", {},
      el("td", {}, x.session_id), el("td", {}, x.scenario), el("td", {}, x.started), el("td", {}, String(x.event_count)))));
  } catch (err) { note(err.message, false); }
}

async function saveHierarchy() {
  const items = [...$("hierarchy").tBodies[0].rows].map((row) => {
    const [situation, suds, scenario, rung] = [...row.querySelectorAll("input")].map((i) => i.value);
    return {situation, initial_suds: Number(suds), scenario, rung: Number(rung)};
  });
  try {
    await api("PUT", `/api/clients/${openClient}/hierarchy`, {items});
    note("hierarchy saved", true);
  } catch (err) { note(err.message, false); }
}

async function savePlan(event) {
  event.preventDefault();
  const f = $("plan-form");
  const plan = {scenario: f.scenario.value, start_rung: Number(f.start_rung.value),
                band: [Number(f.band_low.value), Number(f.band_high.value)],
                controller: f.controller.value, consent: f.consent.checked};
  if (f.checkin_every_s.value) plan.checkin_every_s = Number(f.checkin_every_s.value);
  if (f.max_rung.value) plan.max_rung = Number(f.max_rung.value);
  plan.trial_criterion = f.trial_criterion.value;
  plan.trial_min_s = Number(f.trial_min_s.value || 120);
  try {
    await api("PUT", `/api/clients/${openClient}/plan`, plan);
    note("plan saved", true);
    loadClients();
  } catch (err) { note(err.message, false); }
}

// ------------------------------------------------------------------ connection

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.onopen = () => { $("link").textContent = "connected"; $("link").className = "link ok"; };
  socket.onclose = () => {
    $("link").textContent = "console disconnected: retrying";
    $("link").className = "link lost";
    setTimeout(connect, 1000);
  };
  socket.onmessage = (message) => {
    for (const update of JSON.parse(message.data)) {
      try { receive(update); } catch (err) { console.error(err, update); }
    }
  };
}

function frame() {
  const s = sessions.get(current);
  if (s && s.plots && !$("session").hidden) for (const plot of Object.values(s.plots)) plot.draw();
  requestAnimationFrame(frame);
}

wire();
connect();
loadClients();
requestAnimationFrame(frame);
