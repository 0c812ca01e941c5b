// BALANCE operator page: plain JS over /operator/api/, charts by the vendored uPlot.
"use strict";

const API = "/operator/api";
const state = { csrf: "", me: null, nodes: [], node: null, charts: [] };
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch(API + path, { credentials: "same-origin", headers, ...options });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== "/login") showLogin();
  if (!response.ok) throw new Error(body.detail || body.title || response.statusText);
  return body;
}

function windowQuery() {
  const days = Number($("#days").value);
  const end = new Date();
  end.setUTCMinutes(0, 0, 0);
  end.setUTCHours(end.getUTCHours() + 1);
  const start = new Date(end.getTime() - days * 86400e3);
  return `start=${start.toISOString()}&end=${end.toISOString()}`;
}

function showLogin() {
  $("#app-view").hidden = true;
  $("#login-view").hidden = false;
}

async function start() {
  try {
    state.me = await api("/me");
  } catch {
    showLogin();
    return;
  }
  state.csrf = state.me.csrf;
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  $("#whoami").textContent = `${state.me.username} (${state.me.role})`;
  $("#dr-form").hidden = state.me.role === "viewer";
  $("#concentrator-form").hidden = state.me.role !== "admin";
  await loadTree();
  // users are managed by an admin of the whole grid only (the API refuses anyone else)
  $("#panel-users").hidden = !(state.me.role === "admin" && !state.me.scope);
  if (!$("#panel-users").hidden) await loadUsers().catch((err) => showError("#user-error", err));
  // loading the alarms draws the map (it colours nodes by them); without them if they fail
  await loadAlarms().catch((err) => { showError("#alarms-error", err); return drawMap(); });
}

// The tree is read a level at a time (GET /tree?parent=): a region of 40,000 houses is never sent
// whole. At start, levels open breadth-first until about TREE_OPEN_AT_START nodes are shown.
const TREE_OPEN_AT_START = 60;

async function loadTree() {
  const { nodes } = await api("/tree");
  state.nodes = [];
  state.tree = new Map();
  const list = el("ul");
  $("#tree").replaceChildren(list);
  let frontier = addTreeNodes(list, nodes);
  while (frontier.length && state.nodes.length < TREE_OPEN_AT_START) {
    const next = [];
    for (const n of frontier) {
      if (state.nodes.length >= TREE_OPEN_AT_START) break;
      next.push(...(await expandNode(n.id)));
    }
    frontier = next;
  }
}

// Adds tree items; returns the nodes that open further.
function addTreeNodes(list, nodes) {
  for (const n of nodes) {
    state.nodes.push(n);
    const link = el("a", { "data-node": n.id, onclick: () => openNode(n.id) }, n.name, " ", el("small", {}, n.level));
    const toggle = n.children
      ? el("button", { class: "toggle", "data-toggle": n.id, "aria-expanded": "false", title: `${n.children} below`, onclick: () => toggleNode(n.id) }, "▸")
      : el("span", { class: "toggle" });
    const item = el("li", {}, toggle, link);
    state.tree.set(n.id, { item, toggle, sub: null });
    list.append(item);
  }
  return nodes.filter((n) => n.children);
}

async function expandNode(id) {
  const entry = state.tree.get(id);
  let added = [];
  if (!entry.sub) {
    const { nodes } = await api(`/tree?parent=${encodeURIComponent(id)}`);
    entry.sub = el("ul");
    entry.item.append(entry.sub);
    added = addTreeNodes(entry.sub, nodes);
  }
  entry.sub.hidden = false;
  entry.toggle.textContent = "▾";
  entry.toggle.setAttribute("aria-expanded", "true");
  return added;
}

async function toggleNode(id) {
  const entry = state.tree.get(id);
  if (entry.sub && !entry.sub.hidden) {
    entry.sub.hidden = true;
    entry.toggle.textContent = "▸";
    entry.toggle.setAttribute("aria-expanded", "false");
    return;
  }
  await expandNode(id).catch((err) => showError("#map", err));
  await drawMap();
}

function destroyCharts() {
  for (const chart of state.charts) chart.destroy();
  state.charts = [];
}

function lineChart(target, title, t, series) {
  const width = Math.max(320, target.clientWidth || 600);
  const opts = {
    title, width, height: 240,
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: s.width || 1.5, spanGaps: false }))],
    axes: [{}, { label: "kWh" }],
  };
  const chart = new uPlot(opts, [t, ...series.map((s) => s.values)], target);
  state.charts.push(chart);
}

function showView(name) {
  $("#concentrators-view").hidden = name !== "concentrators";
  $("#group-view").hidden = name !== "group";
}

async function openNode(id) {
  showView("group");
  document.querySelectorAll("#tree a").forEach((a) => a.classList.toggle("active", a.dataset.node === id));
  const info = await api(`/nodes/${encodeURIComponent(id)}`);
  state.node = info.node;
  $("#node-title").textContent = `${info.node.name} (${info.node.level})`;
  const meta = `${info.meters.length} meters here, ${info.children.length} children` + (info.node.target ? `, DR group ${info.node.target}` : "");
  $("#node-meta").replaceChildren(meta);
  for (const p of ["#panel-balance", "#panel-suspects", "#panel-phases", "#panel-dr"]) $(p).hidden = false;
  destroyCharts();
  $("#chart-profiles").replaceChildren();
  $("#dr-error").textContent = "";
  const q = windowQuery();
  const balance = await api(`/nodes/${encodeURIComponent(id)}/balance?${q}`);
  // estimates (head-end gaps filled on request) are summed in, and said so
  const estimated = (balance.estimated || []).reduce((a, b) => a + b, 0);
  if (estimated) {
    $("#node-meta").append(" · ", el("span", { class: "estimate", id: "node-estimated" },
      `${estimated} meter-hours in this window are estimates (${balance.estimated_meters.join(", ")})`));
  }
  lineChart($("#chart-balance"), estimated ? "Input, subscribers, imbalance (includes estimates)" : "Input, subscribers, imbalance", balance.t, [
    { label: "input", values: balance.input, color: "#1d4ed8" },
    { label: "subscribers", values: balance.subscribers, color: "#16a34a" },
    { label: "imbalance", values: balance.imbalance, color: "#dc2626", width: 2 },
  ]);
  // each panel on its own: one failing analysis must not blank the others
  await Promise.all([
    loadSuspects(id, q, balance).catch((err) => showError("#chart-profiles", err)),
    loadPhases(id, q).catch((err) => showError("#phase-summary", err)),
    loadEvents(id).catch((err) => showError("#dr-error", err)),
  ]);
}

function showError(selector, err) {
  $(selector).replaceChildren(el("span", { class: "error" }, err.message));
}

async function loadSuspects(id, q, balance) {
  const suspects = await api(`/nodes/${encodeURIComponent(id)}/suspects?${q}`);
  renderSuspects(suspects.suspects);
  const top = suspects.suspects.slice(0, 3).map((s) => s.meter_id);
  if (top.length) {
    const prof = await api(`/nodes/${encodeURIComponent(id)}/profiles?${q}&meters=${top.map(encodeURIComponent).join(",")}`);
    const colors = ["#7c3aed", "#ea580c", "#0891b2"];
    lineChart($("#chart-profiles"), "Imbalance and suspects", balance.t, [
      { label: "imbalance", values: balance.imbalance, color: "#dc2626", width: 2 },
      ...top.map((m, i) => ({ label: estimateLabel(m, prof.estimated), values: prof.profiles[m] || [], color: colors[i] })),
    ]);
  } else {
    $("#chart-profiles").replaceChildren(el("p", {}, "No suspects in this window."));
  }
}

function estimateLabel(meter, estimated) {
  const hours = (estimated || {})[meter] || [];
  return hours.length ? `${meter} (${hours.length} h estimated)` : meter;
}

function renderSuspects(rows) {
  const body = $("#suspects tbody");
  body.replaceChildren(...rows.map((s) => el("tr", {},
    el("td", {}, s.meter_id), el("td", {}, s.score.toFixed(2)), el("td", {}, s.coefficient.toFixed(2)),
    el("td", {}, s.correlation.toFixed(2)), el("td", {}, s.since ? s.since.slice(0, 10) : "–"),
    el("td", {}, s.kwh_lost.toFixed(1)), el("td", {}, s.evidence))));
}

async function loadPhases(id, q) {
  const plan = await api(`/nodes/${encodeURIComponent(id)}/phases?${q}`);
  if (!plan.moves.length && plan.loss_before_kwh === undefined) {
    $("#phase-summary").textContent = "No phased subscribers here.";
  } else {
    const multi = plan.multi_phase_candidates.length ? ` Two or three phases for: ${plan.multi_phase_candidates.join(", ")}.` : "";
    $("#phase-summary").textContent = `Losses ${plan.loss_before_kwh} → ${plan.loss_after_kwh} kWh (−${plan.reduction_pct} %).${multi}`;
  }
  $("#phase-moves tbody").replaceChildren(...plan.moves.map((m) => el("tr", {}, el("td", {}, m.meter_id), el("td", {}, m.from), el("td", {}, m.to))));
}

async function loadEvents(id) {
  const data = await api(`/nodes/${encodeURIComponent(id)}/events`);
  $("#dr-create").disabled = !data.target;
  const rows = data.events.map((e) => {
    const deliveries = e.deliveries.map((d) => `${d.ven_id}: ${d.status}${d.channel ? " via " + d.channel : ""}`).join("; ") || "none yet";
    const cancel = state.me.role === "viewer" ? "" : el("button", { onclick: () => cancelEvent(e.id) }, "Cancel");
    return el("tr", { "data-event": e.id }, el("td", {}, e.name), el("td", {}, (e.start || "").slice(0, 16)), el("td", {}, (e.end || "").slice(0, 16)), el("td", {}, deliveries), el("td", {}, cancel));
  });
  $("#dr-events tbody").replaceChildren(...rows);
}

async function cancelEvent(eventId) {
  try {
    await api(`/events/${encodeURIComponent(eventId)}`, { method: "DELETE" });
  } catch (err) {
    $("#dr-error").textContent = err.message;
  }
  await loadEvents(state.node.id);
}

async function loadAlarms() {
  const params = new URLSearchParams(windowQuery());
  if ($("#alarm-kind").value) params.set("kind", $("#alarm-kind").value);
  if ($("#alarm-severity").value) params.set("severity", $("#alarm-severity").value);
  if ($("#alarm-open").checked) params.set("open", "1");
  const { alarms } = await api(`/alarms?${params}`);
  state.alarms = alarms;
  // one list: the balance's daily findings and the head-end's field alarms
  $("#alarms tbody").replaceChildren(...alarms.slice(0, 200).map((a) => el("tr", { "data-kind": a.kind, "data-source": a.source, "data-severity": a.severity },
    el("td", {}, (a.since || a.day || "").slice(0, 16).replace("T", " ")), el("td", {}, a.node_name || ""),
    el("td", { class: `sev-${a.severity}` }, el("span", { class: "source" }, a.source === "field" ? "field" : "balance"), a.message),
    el("td", {}, a.cleared ? a.cleared.slice(0, 16).replace("T", " ") : "open"))));
  $("#alarms-error").textContent = "";
  await drawMap();
}

async function loadConcentrators() {
  const { concentrators } = await api("/concentrators");
  $("#concentrators-empty").hidden = concentrators.length > 0;
  $("#concentrators tbody").replaceChildren(...concentrators.map((c) => el("tr", { "data-concentrator": c.id },
    el("td", {}, c.id, el("br"), el("small", {}, c.url)),
    el("td", { class: `status-${c.status}` }, c.status),
    el("td", {}, c.last_heard ? c.last_heard.slice(0, 19).replace("T", " ") : "never"),
    el("td", {}, c.modules),
    el("td", {}, `${c.meters}` + (c.unassigned ? ` (${c.unassigned} unassigned)` : "")),
    el("td", {}, c.rejected),
    el("td", {}, c.node_name || c.node_id || "–"),
    el("td", {},
      el("button", { "data-meters": c.id, onclick: () => loadMeters(c.id) }, "Meters"),
      state.me.role === "admin" ? el("button", { "data-remove": c.id, onclick: () => removeConcentrator(c.id) }, "Remove") : ""))));
}

async function loadMeters(name) {
  const { meters } = await api(`/concentrators/${encodeURIComponent(name)}/meters`);
  $("#panel-meters").hidden = false;
  $("#meters-title").textContent = `Meters of ${name}`;
  $("#concentrator-meters tbody").replaceChildren(...meters.map((m) => {
    // rejections by rule; flags (a stuck register) are values kept but worth a look
    const rules = Object.entries(m.vee).filter(([rule]) => rule !== "gap" && !m.flags.includes(rule)).map(([rule, n]) => `${rule}: ${n}`).join(", ");
    const flags = m.flags.map((f) => `flagged: ${f.replace("_", " ")}`).join(", ");
    const mapped = m.grid_meter_id
      ? `${m.role || "meter"} ${m.grid_meter_id}` + (m.grid_node ? ` (${m.grid_node})` : "")
      : "unassigned";
    return el("tr", { "data-meter": m.meter },
      el("td", {}, m.meter), el("td", {}, `${m.kind} (${m.unit})`),
      el("td", { class: m.grid_meter_id ? "" : "unassigned" }, mapped),
      el("td", {}, m.last_hour ? m.last_hour.slice(0, 16).replace("T", " ") : "–"),
      el("td", {}, rules || "0", flags ? el("br") : "", flags ? el("span", { class: "unassigned" }, flags) : ""),
      el("td", { class: m.estimated_hours ? "estimate" : "" }, m.estimated_hours ? `${m.estimated_hours} (estimates)` : "0"));
  }));
}

async function removeConcentrator(name) {
  $("#concentrator-error").textContent = "";
  try {
    await api(`/concentrators/${encodeURIComponent(name)}`, { method: "DELETE" });
    $("#panel-meters").hidden = true;
    await loadConcentrators();
  } catch (err) {
    $("#concentrator-error").textContent = err.message;
  }
}

async function openConcentrators() {
  showView("concentrators");
  document.querySelectorAll("#tree a").forEach((a) => a.classList.remove("active"));
  $("#concentrator-error").textContent = "";
  await loadConcentrators().catch((err) => { $("#concentrator-error").textContent = err.message; });
}

$("#concentrator-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#concentrator-error").textContent = "";
  try {
    await api("/concentrators", { method: "POST", body: JSON.stringify({
      name: $("#concentrator-name").value, url: $("#concentrator-url").value,
      node: $("#concentrator-node").value || null }) });
    $("#concentrator-name").value = "";
    $("#concentrator-url").value = "";
    $("#concentrator-node").value = "";
    await loadConcentrators();
  } catch (err) {
    $("#concentrator-error").textContent = err.message;
  }
});

async function loadUsers() {
  const { users } = await api("/users");
  $("#users tbody").replaceChildren(...users.map((u) => el("tr", {},
    el("td", {}, u.username), el("td", {}, u.role), el("td", {}, u.scope || "all"),
    el("td", {}, u.username === state.me.username ? "" : el("button", { "data-delete-user": u.username, onclick: () => deleteUser(u.username) }, "Delete")))));
}

async function deleteUser(name) {
  $("#user-error").textContent = "";
  try {
    await api(`/users/${encodeURIComponent(name)}`, { method: "DELETE" });
    await loadUsers();
  } catch (err) {
    $("#user-error").textContent = err.message;
  }
}

$("#user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#user-error").textContent = "";
  $("#user-result").textContent = "";
  try {
    const saved = await api("/users", { method: "POST", body: JSON.stringify({
      username: $("#user-name").value, role: $("#user-role").value,
      scope: $("#user-scope").value || null, password: $("#user-password").value || null }) });
    // the password is shown this once: it is stored only as a hash
    $("#user-result").textContent = `${saved.username} (${saved.role}) can log in with the password: ${saved.password}`;
    $("#user-password").value = "";
    await loadUsers();
  } catch (err) {
    $("#user-error").textContent = err.message;
  }
});

// A schematic, not a geographic map: the hierarchy as layers, leaves spread along the bottom.
async function drawMap() {
  const ns = "http://www.w3.org/2000/svg";
  const nodes = state.nodes;
  const kids = new Map();
  for (const n of nodes) { if (!kids.has(n.parent)) kids.set(n.parent, []); kids.get(n.parent).push(n); }
  const ids = new Set(nodes.map((n) => n.id));
  const roots = nodes.filter((n) => !ids.has(n.parent));
  const pos = new Map();
  let leaf = 0;
  const place = (n, depth) => {
    const children = kids.get(n.id) || [];
    if (!children.length) { pos.set(n.id, [leaf++, depth]); return; }
    children.forEach((c) => place(c, depth + 1));
    const xs = children.map((c) => pos.get(c.id)[0]);
    pos.set(n.id, [(Math.min(...xs) + Math.max(...xs)) / 2, depth]);
  };
  roots.forEach((r) => place(r, 0));
  // an alarm below what is open colours the deepest open node on its path
  const alarmed = new Map();
  for (const a of (state.alarms || []).filter((x) => x.open || x.source !== "field")) {
    const shown = (a.path || `${a.node}/`).split("/").filter((id) => pos.has(id)).pop();
    if (shown && (!alarmed.has(shown) || a.severity === "critical")) alarmed.set(shown, a.severity);
  }
  const width = Math.max(1, leaf) * 14 + 20;
  const depth = Math.max(0, ...[...pos.values()].map((p) => p[1]));
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${depth * 60 + 40}`);
  const xy = (id) => { const [x, y] = pos.get(id); return [10 + x * 14, 20 + y * 60]; };
  for (const n of nodes) {
    if (!pos.has(n.parent)) continue;
    const [x1, y1] = xy(n.parent); const [x2, y2] = xy(n.id);
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1, y1, x2, y2, stroke: "#99a" }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  for (const n of nodes) {
    const [cx, cy] = xy(n.id);
    const dot = document.createElementNS(ns, "circle");
    const sev = alarmed.get(n.id);
    Object.entries({ cx, cy, r: n.level === "house" ? 4 : 7, fill: sev === "critical" ? "#dc2626" : sev ? "#f59e0b" : "#16a34a", "data-node": n.id })
      .forEach(([k, v]) => dot.setAttribute(k, v));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${n.name} (${n.level})`;
    dot.append(title);
    dot.addEventListener("click", () => openNode(n.id));
    svg.append(dot);
  }
  $("#map").replaceChildren(svg);
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#login-error").textContent = "";
  try {
    const me = await api("/login", { method: "POST", body: JSON.stringify({ username: $("#login-user").value, password: $("#login-password").value }) });
    state.csrf = me.csrf;
    await start();
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});

$("#dr-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#dr-error").textContent = "";
  try {
    await api(`/nodes/${encodeURIComponent(state.node.id)}/events`, {
      method: "POST",
      body: JSON.stringify({ level: Number($("#dr-level").value), duration_minutes: Number($("#dr-minutes").value) }),
    });
  } catch (err) {
    $("#dr-error").textContent = err.message;
  }
  await loadEvents(state.node.id);
});

$("#logout").addEventListener("click", async () => {
  await api("/logout", { method: "POST" }).catch(() => {});
  showLogin();
});
$("#days").addEventListener("change", () => { loadAlarms(); if (state.node) openNode(state.node.id); });
$("#alarm-kind").addEventListener("change", loadAlarms);
$("#alarm-severity").addEventListener("change", loadAlarms);
$("#alarm-open").addEventListener("change", loadAlarms);
$("#show-concentrators").addEventListener("click", openConcentrators);

start();
