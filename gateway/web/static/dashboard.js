// The live dashboard: GET /v1/dashboard every few seconds; admin commands with a token.
"use strict";

const REFRESH_MS = 3000;

function cell(text, attributes = {}) {
  const td = document.createElement("td");
  td.textContent = text;
  for (const [name, value] of Object.entries(attributes)) td.setAttribute(name, value);
  return td;
}

function fixed(value, digits = 1) {
  return value === null || value === undefined ? "–" : value.toFixed(digits);
}

function drawSlots(experiment) {
  const slots = experiment.slots || {};
  show("experiment-id", experiment.experiment_id);
  show("slot-best", slots.best || "none");
  // During the watch after a promotion the candidate slot serves the held-back previous best.
  show("slot-candidate", slots.holdback ? `${slots.holdback} (previous best, held back for the watch)` : slots.candidate || "none");
  show("slot-previous-best", slots.previous_best || "none");
  show("slot-generation", slots.generation ?? "–");
  show("candidate-share", `${(experiment.candidate_share * 100).toFixed(1)} %`);
}

function drawVariants(variants, intervalLabel) {
  const rows = variants.map((v) => {
    const tr = document.createElement("tr");
    tr.dataset.variant = v.variant;
    const interval = v.mae_low === null ? "" : ` (${fixed(v.mae_low)}–${fixed(v.mae_high)})`;
    tr.append(
      cell(v.variant),
      Object.assign(cell((v.model_versions || "–").replaceAll(",", "\n")), { className: "version" }),
      cell(String(v.requests), { id: `requests-${v.variant}`, "data-value": v.requests }),
      cell(String(v.errors), { id: `errors-${v.variant}`, "data-value": v.errors }),
      cell(fixed(v.latency_ms_p50), { id: `p50-${v.variant}` }),
      cell(fixed(v.latency_ms_p95), { id: `p95-${v.variant}` }),
      cell(String(v.feedback), { id: `feedback-${v.variant}`, "data-value": v.feedback }),
      cell(v.mae === null ? "–" : `${fixed(v.mae)}${interval}`, { id: `mae-${v.variant}` }),
    );
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    tr.append(cell("no requests in this experiment yet", { colspan: 8 }));
    rows.push(tr);
  }
  document.querySelector("#variants tbody").replaceChildren(...rows);
  show("mae-interval", `MAE interval: ${intervalLabel}.`);
}

function drawSrm(srm) {
  const node = document.getElementById("srm-status");
  if (!srm) {
    node.textContent = "no requests yet";
    node.dataset.mismatch = "";
    node.className = "";
    return;
  }
  const observed = srm.observed_candidate_share === null ? "–" : fixed(srm.observed_candidate_share * 100);
  const p = srm.p_value === null ? "not tested" : `p = ${srm.p_value.toPrecision(3)}`;
  // A fixed-sample reading against the current share: after a share change (a ramp, an
  // operator's split) it is not the promoter's test, which takes each period on its own.
  const verdict = srm.mismatch ? "MISMATCH against the current share (the promoter's own test is per period: see its decisions)" : "ok";
  node.textContent = `${verdict} · candidate ${observed} % of ${srm.prod_requests + srm.candidate_requests}` +
    ` requests, expected ${fixed(srm.expected_candidate_share * 100)} % · ${p}`;
  node.dataset.mismatch = String(srm.mismatch);
  node.className = srm.mismatch ? "bad" : "good";
}

// One row per model version: its largest PSI and the feature it is on.
function worstDrift(drift) {
  const worst = new Map();
  for (const d of drift) {
    const key = `${d.variant} ${d.model_version}`;
    if (!worst.has(key) || d.psi > worst.get(key).psi) worst.set(key, d);
  }
  return [...worst.values()];
}

function drawDrift(drift) {
  const rows = worstDrift(drift).map((d) => {
    const tr = document.createElement("tr");
    tr.className = d.level;
    const model = cell(d.model_version);
    model.className = "version";
    tr.append(cell(d.variant), model, cell(d.feature), cell(String(d.requests)),
      cell(`${d.psi.toFixed(3)} ${d.level}`));
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    tr.append(cell("no drift data yet", { colspan: 5 }));
    rows.push(tr);
  }
  document.querySelector("#drift tbody").replaceChildren(...rows);
}

function drawTimeline(decisions) {
  const items = decisions.map((d) => {
    const li = document.createElement("li");
    li.dataset.action = d.action;
    li.dataset.sequence = d.sequence;
    li.className = `action-${d.action}`;
    const head = document.createElement("strong");
    head.textContent = `#${d.sequence} ${d.action}`;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = ` ${d.occurred_at} · ${d.actor} · best ${d.best || "none"}, candidate ${d.candidate || "none"}`;
    const reasons = document.createElement("div");
    reasons.className = "reasons";
    reasons.textContent = d.reasons.join("; ");
    li.append(head, meta, reasons);
    if (d.evidence) {
      const evidence = document.createElement("div");
      evidence.className = "evidence";
      evidence.textContent = d.evidence;
      li.append(evidence);
    }
    return li;
  });
  if (items.length === 0) items.push(Object.assign(document.createElement("li"), { textContent: "no decisions yet" }));
  document.getElementById("timeline").replaceChildren(...items);
}

// The charts are SVG drawn by the gateway (gateway/web/charts.py), with every label escaped.
function drawCharts(charts) {
  for (const [name, svg] of Object.entries(charts)) {
    document.getElementById(`chart-${name}`).innerHTML = svg;
  }
}

function drawUnavailable(unavailable) {
  const node = document.getElementById("unavailable");
  const parts = Object.entries(unavailable).map(([what, why]) => `${what} unavailable (${why})`);
  node.textContent = parts.length ? `Showing what is known; ${parts.join("; ")}.` : "";
  node.hidden = parts.length === 0;
}

async function load() {
  try {
    const data = await callApi("GET", "/v1/dashboard");
    drawSlots(data.experiment);
    drawVariants(data.variants, data.mae_interval);
    drawSrm(data.srm);
    drawDrift(data.drift);
    drawTimeline(data.decisions);
    drawCharts(data.charts);
    drawUnavailable(data.unavailable);
    show("updated-at", data.generated_at);
  } catch (error) {
    drawUnavailable({ gateway: error.message });
  }
}

async function refreshForever() {
  await load();
  setTimeout(refreshForever, REFRESH_MS);
}

// Admin controls appear once a token is entered; the gateway checks it on each command.
function tokenChanged() {
  const token = document.getElementById("admin-token").value.trim();
  document.getElementById("admin-controls").hidden = token === "";
}

async function runCommand(action) {
  const token = document.getElementById("admin-token").value.trim();
  const reason = document.getElementById("admin-reason").value.trim() || `${action} from the dashboard`;
  if (!window.confirm(`${action}: are you sure?`)) return;
  const result = document.getElementById("admin-result");
  result.textContent = `${action}: waiting for the promoter…`;
  result.className = "status";
  try {
    const answer = await callApi("POST", `/v1/admin/${action}`, { reason, operator: "dashboard" },
      { Authorization: `Bearer ${token}` });
    result.textContent = `${action}: ${answer.outcome}: ${answer.message}`;
    result.className = "status good";
    load();
  } catch (error) {
    result.textContent = `${action} refused (${error.status}): ${error.message}`;
    result.className = "status bad";
  }
}

document.getElementById("admin-token").addEventListener("input", tokenChanged);
for (const button of document.querySelectorAll("#admin-controls [data-action]")) {
  button.addEventListener("click", () => runCommand(button.dataset.action));
}
tokenChanged();
refreshForever();
