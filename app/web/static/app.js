/* promoplan planner page: plain JavaScript over the JSON API, charts in SVG. */
"use strict";

const I18N = {
  zh: {
    brand_sub: "大促排期", nav_year: "年度日历", sign_out: "退出", sign_in: "登录",
    sign_in_title: "用 API 密钥登录", key_label: "API 密钥（pp_ 开头）",
    key_hint: "运行 `promoplan keys create --role planner --name 我` 获取密钥；密钥只保存在本标签页。",
    year: "年度", today: "今天", conflicts: "冲突", no_events: "这一年还没有活动。",
    gantt: "甘特图", slots: "资源位", promotions: "优惠", launch: "上线", zoom_day: "按日", zoom_week: "按周",
    critical_path: "关键路径", violations: "依赖冲突", late: "逾期", slack: "浮动时间",
    saved: "已保存", stale: "别人先改了这个任务，已重新加载。请再试一次。",
    run_allocation: "运行分配", publish: "发布", lock: "锁定", unlock: "解锁", refusals: "未获分配",
    objective: "目标值", optimal: "最优", gap: "差距", no_plans: "这个活动还没有资源位计划。",
    no_run: "还没有分配结果。", run_status: "状态", risk: "风险", check_risk: "检查风险",
    quote_sim: "算价模拟", add_line: "加一行", coupon_codes: "优惠券码（逗号分隔）", at: "时间点",
    best: "自动选最优组合", price_it: "算价", subtotal: "小计", discount: "优惠", total: "应付",
    applied: "已使用", not_applied: "未使用", reason: "原因", transitions: "状态转换", job_runs: "执行记录",
    readiness: "上线检查", deliveries: "Webhook 投递", launch_now: "立即上线", teardown_now: "立即下线",
    status: "状态", due: "到期", applied_at: "执行于", name: "名称", team: "团队", progress: "进度",
    start: "开始", end: "结束", save: "保存", cancel: "取消", forbidden: "你的角色无权查看此内容。",
    loading: "加载中…", error: "出错了", none: "无", kind: "类型", level: "层级", window: "窗口",
    merchant: "商家", score: "分数", position: "排位", phase: "阶段", all_teams: "所有团队",
    events: "活动", milestone: "里程碑", task: "任务", moved: "已移动",
  },
  en: {
    brand_sub: "campaign planner", nav_year: "Year", sign_out: "Sign out", sign_in: "Sign in",
    sign_in_title: "Sign in with an API key", key_label: "API key (starts with pp_)",
    key_hint: "Run `promoplan keys create --role planner --name me` to get one; it is kept in this tab only.",
    year: "Year", today: "Today", conflicts: "Conflicts", no_events: "No events this year yet.",
    gantt: "Gantt", slots: "Slots", promotions: "Promotions", launch: "Launch", zoom_day: "Days", zoom_week: "Weeks",
    critical_path: "Critical path", violations: "Broken dependencies", late: "late", slack: "slack",
    saved: "Saved", stale: "Someone else changed this task first; it has been reloaded. Try again.",
    run_allocation: "Run allocation", publish: "Publish", lock: "Lock", unlock: "Unlock", refusals: "Refusals",
    objective: "Objective", optimal: "optimal", gap: "gap", no_plans: "This event has no slot plans yet.",
    no_run: "No allocation run yet.", run_status: "Status", risk: "Risk", check_risk: "Check risk",
    quote_sim: "Quote simulator", add_line: "Add line", coupon_codes: "Coupon codes (comma-separated)", at: "At",
    best: "Pick the best combination", price_it: "Price it", subtotal: "Subtotal", discount: "Discount", total: "Total",
    applied: "Applied", not_applied: "Not applied", reason: "Reason", transitions: "Transitions", job_runs: "Job runs",
    readiness: "Readiness", deliveries: "Webhook deliveries", launch_now: "Launch now", teardown_now: "Tear down now",
    status: "Status", due: "Due", applied_at: "Applied", name: "Name", team: "Team", progress: "Progress",
    start: "Start", end: "End", save: "Save", cancel: "Cancel", forbidden: "Your role may not see this.",
    loading: "Loading…", error: "Error", none: "none", kind: "Kind", level: "Level", window: "Window",
    merchant: "Merchant", score: "Score", position: "Position", phase: "Phase", all_teams: "All teams",
    events: "Events", milestone: "Milestone", task: "Task", moved: "Moved",
  },
};

let lang = localStorage.getItem("pp.lang") || "zh";
const t = (key) => (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
const state = { key: sessionStorage.getItem("pp.key"), me: null };
const DAY = 86400000;
const WRITERS = new Set(["admin", "planner"]);
const SVG_NS = "http://www.w3.org/2000/svg";

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (state.key) init.headers.Authorization = `Bearer ${state.key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api/v1${path}`, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_e) { data = text; }
  if (!response.ok) {
    if (response.status === 401 && state.key) signOut();
    throw new ApiError(response.status, data);
  }
  return { data, etag: response.headers.get("ETag") };
}

const canWrite = () => state.me && WRITERS.has(state.me.role);

/* ---- DOM helpers ---------------------------------------------------- */

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  const msg = h("div", { class: `msg ${kind}`, text: message });
  box.append(msg);
  setTimeout(() => msg.remove(), kind === "error" ? 8000 : 3500);
}

function fmt(iso, tz, withTime = true) {
  if (!iso) return "–";
  const options = { timeZone: tz || undefined, year: "numeric", month: "2-digit", day: "2-digit" };
  if (withTime) Object.assign(options, { hour: "2-digit", minute: "2-digit", hour12: false });
  try {
    return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-CA", options).format(new Date(iso));
  } catch (_e) {
    return iso;
  }
}

const money = (minor, currency = "CNY") =>
  `${currency === "CNY" ? "¥" : currency + " "}${(Number(minor || 0) / 100).toFixed(2)}`;

function problemText(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  if (err.status === 403) return t("forbidden");
  const p = err.problem || {};
  const fields = (p.errors || []).map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
  return [p.title, p.detail, fields].filter(Boolean).join(" — ");
}

function guard(view) {
  return async (...args) => {
    try {
      await view(...args);
    } catch (err) {
      const main = document.getElementById("view");
      main.replaceChildren(h("div", { class: "card" }, h("h2", { text: t("error") }), h("p", { text: problemText(err) })));
    }
  };
}

/* ---- Sign-in ---------------------------------------------------------- */

function signOut() {
  sessionStorage.removeItem("pp.key");
  state.key = null;
  state.me = null;
  render();
}

function renderSignIn(message) {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", placeholder: "pp_…" });
  const form = h("form", { class: "card signin", onsubmit: async (e) => {
    e.preventDefault();
    state.key = input.value.trim();
    try {
      state.me = (await api("GET", "/me")).data;
      sessionStorage.setItem("pp.key", state.key);
      render();
    } catch (err) {
      state.key = null;
      renderSignIn(problemText(err));
    }
  } },
  h("h1", { text: t("sign_in_title") }),
  h("label", { for: "api-key", text: t("key_label") }), input,
  h("button", { class: "primary", type: "submit", text: t("sign_in") }),
  h("p", { class: "muted", text: t("key_hint") }),
  message ? h("p", { class: "error", role: "alert", text: message }) : null);
  document.getElementById("view").replaceChildren(form);
  input.focus();
}

/* ---- Year view -------------------------------------------------------- */

const PHASE_COLOURS = { warmup: "--warmup", presale: "--presale", peak: "--peak", encore: "--encore" };
const phaseColour = (key) => `var(${PHASE_COLOURS[key] || "--other"})`;

async function viewYear(yearParam) {
  const year = Number(yearParam) || new Date().getFullYear();
  const from = `${year}-01-01T00:00:00Z`;
  const to = `${year + 1}-01-01T00:00:00Z`;
  const { data } = await api("GET", `/calendar?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  const events = data.events || data.items || [];
  const conflicts = data.conflicts || [];
  const main = document.getElementById("view");
  const header = h("div", { class: "row" },
    h("button", { onclick: () => (location.hash = `#/year/${year - 1}`), "aria-label": "previous year", text: "‹" }),
    h("h1", { text: `${t("year")} ${year}` }),
    h("button", { onclick: () => (location.hash = `#/year/${year + 1}`), "aria-label": "next year", text: "›" }));
  const card = h("div", { class: "card", id: "year-view" });
  if (!events.length) card.append(h("p", { class: "muted", text: t("no_events") }));
  else card.append(yearChart(year, events, conflicts));
  const list = h("div", { class: "card" }, h("h2", { text: `${t("conflicts")} (${conflicts.length})` }),
    conflicts.length ? h("ul", {}, conflicts.map((c) => h("li", { class: "conflict-item", text: c.detail || c.message || JSON.stringify(c) })))
      : h("p", { class: "muted", text: t("none") }));
  main.replaceChildren(header, card, list);
}

function yearChart(year, events, conflicts) {
  const start = Date.UTC(year, 0, 1), end = Date.UTC(year + 1, 0, 1);
  const width = 1200, left = 190, rowH = 34, top = 30;
  const x = (ms) => left + ((Math.min(Math.max(ms, start), end) - start) / (end - start)) * (width - left - 10);
  const height = top + events.length * rowH + 10;
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "year" });
  for (let m = 0; m < 12; m++) {
    const mx = x(Date.UTC(year, m, 1));
    svg.append(s("line", { x1: mx, x2: mx, y1: 18, y2: height, class: "grid" }),
      s("text", { x: mx + 4, y: 14, class: "muted", text: lang === "zh" ? `${m + 1}月` : new Date(Date.UTC(year, m, 1)).toLocaleString("en", { month: "short", timeZone: "UTC" }) }));
  }
  const conflicted = new Set(conflicts.flatMap((c) => c.event_ids || []));
  events.forEach((ev, i) => {
    const y = top + i * rowH;
    const s0 = Date.parse(ev.starts_at), e0 = Date.parse(ev.ends_at);
    const link = s("a", { href: `#/events/${ev.id}` }, s("text", { x: 6, y: y + 18, class: "event-name", text: ev.name }));
    svg.append(link);
    const bx = x(s0), bw = Math.max(3, x(e0) - x(s0));
    svg.append(s("rect", { x: bx, y: y + 6, width: bw, height: 18, rx: 3, fill: "#dee2e6", "data-event": ev.id },
      s("title", { text: `${ev.name}: ${fmt(ev.starts_at, ev.timezone)} – ${fmt(ev.ends_at, ev.timezone)} (${ev.status})` })));
    for (const ph of ev.phases || []) {
      const px = x(Date.parse(ph.starts_at)), pw = Math.max(2, x(Date.parse(ph.ends_at)) - px);
      svg.append(s("rect", { x: px, y: y + 6, width: pw, height: 18, fill: phaseColour(ph.key), class: "phase" },
        s("title", { text: `${ev.name} · ${ph.name || ph.key}` })));
    }
    if (conflicted.has(ev.id)) svg.append(s("rect", { x: bx - 2, y: y + 4, width: bw + 4, height: 22, class: "conflict" }));
  });
  const now = Date.now();
  if (now >= start && now < end) {
    svg.append(s("line", { x1: x(now), x2: x(now), y1: 18, y2: height, class: "today" }),
      s("text", { x: x(now) + 3, y: height - 4, class: "muted", text: t("today") }));
  }
  return svg;
}

/* ---- Event views ------------------------------------------------------ */

function eventTabs(eventId, active, event) {
  const tabs = [["gantt", t("gantt")], ["slots", t("slots")], ["promotions", t("promotions")], ["launch", t("launch")]];
  return h("div", {},
    h("h1", {}, event ? event.name : `#${eventId}`, " ",
      event ? h("span", { class: `badge ${event.status}`, text: event.status }) : null),
    h("nav", { class: "tabs" }, tabs.map(([key, label]) =>
      h("a", { href: `#/events/${eventId}/${key}`, class: key === active ? "active" : "", text: label }))));
}

async function viewGantt(eventId, zoom = "day") {
  const { data } = await api("GET", `/events/${eventId}/gantt`);
  const event = data.event || {};
  const main = document.getElementById("view");
  const controls = h("div", { class: "row" },
    h("button", { onclick: () => drawGantt(data, "day"), text: t("zoom_day") }),
    h("button", { onclick: () => drawGantt(data, "week"), text: t("zoom_week") }),
    h("span", { class: "legend" },
      h("span", {}, h("i", { style: "background:var(--crit)" }), t("critical_path")),
      h("span", {}, h("i", { style: "background:#74c0fc" }), t("task")),
      h("span", {}, h("i", { style: "border:2px dashed var(--crit)" }), t("violations"))));
  const chartCard = h("div", { class: "card", id: "gantt" });
  const violations = data.violations || [];
  const vCard = h("div", { class: "card" }, h("h2", { text: `${t("violations")} (${violations.length})` }),
    violations.length ? h("ul", {}, violations.map((v) => h("li", { class: "violation-item", text: v.detail || v.message || JSON.stringify(v) })))
      : h("p", { class: "muted", text: t("none") }));
  const late = (data.tasks || []).filter((tk) => tk.overdue);
  const lateCard = h("div", { class: "card", id: "late" }, h("h2", { text: `${t("late")} (${late.length})` }),
    late.length ? h("ul", {}, late.map((tk) => h("li", { class: "late-item" },
      `${tk.name} — ${t("end")} ${fmt(tk.ends_at, event.timezone)}, ${t("progress")} ${tk.progress}%${tk.team ? " · " + tk.team : ""}`)))
      : h("p", { class: "muted", text: t("none") }));
  main.replaceChildren(eventTabs(eventId, "gantt", event), controls, chartCard, lateCard, vCard);

  function drawGantt(gantt, scale) {
    const chart = ganttChart(eventId, gantt, scale, () => guard(viewGantt)(eventId, scale));
    chartCard.replaceChildren(chart.node);
    chart.focus();
  }
  drawGantt(data, zoom);
}

function ganttChart(eventId, gantt, scale, reload) {
  const event = gantt.event || {};
  const tz = event.timezone;
  const tasks = [...(gantt.tasks || [])];
  const critical = new Set(gantt.critical_path || []);
  tasks.sort((a, b) => (a.team || "—").localeCompare(b.team || "—") || Date.parse(a.starts_at) - Date.parse(b.starts_at));
  const times = tasks.flatMap((tk) => [Date.parse(tk.starts_at), Date.parse(tk.ends_at || tk.starts_at)]);
  for (const ph of gantt.phases || []) times.push(Date.parse(ph.starts_at), Date.parse(ph.ends_at));
  if (event.starts_at) times.push(Date.parse(event.starts_at), Date.parse(event.ends_at));
  const min = Math.floor(Math.min(...times) / DAY) * DAY - DAY;
  const max = Math.ceil(Math.max(...times) / DAY) * DAY + DAY;
  const pxPerDay = scale === "week" ? 14 : 36;
  const labelW = 330, nameX = 118, rowH = 26, top = 46;
  const width = ((max - min) / DAY) * pxPerDay + 20;
  const x = (ms) => ((ms - min) / DAY) * pxPerDay;
  const rowOf = new Map(tasks.map((tk, i) => [tk.id, i]));
  const height = top + tasks.length * rowH + 20;
  // Names live in their own fixed column, so they stay visible while the timeline scrolls.
  const labels = s("svg", { width: labelW, height, class: "gantt-labels" });
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "gantt-svg" });
  let previous = null, band = 0;
  tasks.forEach((tk, i) => {
    const team = tk.team || "—";
    if (team === previous) return;
    const size = tasks.filter((other) => (other.team || "—") === team).length;
    if (band++ % 2 === 0) {
      labels.append(s("rect", { x: 0, y: top + i * rowH, width: labelW, height: size * rowH, class: "team-band" }));
      svg.append(s("rect", { x: 0, y: top + i * rowH, width, height: size * rowH, class: "team-band" }));
    }
    labels.append(s("text", { x: 4, y: top + i * rowH + 17, class: "muted team-name", text: team }));
    previous = team;
  });
  tasks.forEach((tk, i) => labels.append(s("text", { x: nameX, y: top + i * rowH + 17,
    class: `task-name${tk.overdue ? " overdue" : ""}${tk.critical || critical.has(tk.id) ? " critical" : ""}`, text: tk.name },
    s("title", { text: tk.name }))));
  for (const ph of gantt.phases || []) {
    const px = x(Date.parse(ph.starts_at));
    svg.append(s("rect", { x: px, y: 2, width: Math.max(2, x(Date.parse(ph.ends_at)) - px), height: 16, fill: phaseColour(ph.key) }),
      s("text", { x: px + 3, y: 14, text: ph.name || ph.key }));
  }
  const step = scale === "week" ? 7 * DAY : DAY;
  for (let d = min; d <= max; d += step) {
    svg.append(s("line", { x1: x(d), x2: x(d), y1: 20, y2: height, class: "grid" }));
    if (scale === "week" || new Date(d).getUTCDate() % 2 === 1)
      svg.append(s("text", { x: x(d) + 2, y: 34, class: "muted", text: fmt(new Date(d).toISOString(), tz, false).slice(5) }));
  }
  const broken = new Set((gantt.violations || []).map((v) => `${v.depends_on}-${v.task_id}`));
  for (const tk of tasks) {
    for (const dep of tk.depends_on || []) {
      const from = tasks[rowOf.get(dep.task_id)];
      if (!from) continue;
      const type = dep.type || "FS";
      const fx = x(Date.parse(type[0] === "S" ? from.starts_at : from.ends_at || from.starts_at));
      const tx = x(Date.parse(type[1] === "S" ? tk.starts_at : tk.ends_at || tk.starts_at));
      const fy = top + rowOf.get(from.id) * rowH + rowH / 2;
      const ty = top + rowOf.get(tk.id) * rowH + rowH / 2;
      const bad = broken.has(`${from.id}-${tk.id}`);
      svg.append(s("path", { d: `M${fx},${fy} C${fx + 12},${fy} ${tx - 12},${ty} ${tx},${ty}`, class: `dep${bad ? " violation" : ""}`,
        "data-from": from.id, "data-to": tk.id }, s("title", { text: `${from.name} → ${tk.name} (${type}${dep.lag && dep.lag !== "PT0S" ? " " + dep.lag : ""})` })));
    }
  }
  tasks.forEach((tk, i) => {
    const y = top + i * rowH;
    const isCritical = tk.critical || critical.has(tk.id);
    const sx = x(Date.parse(tk.starts_at));
    const group = s("g", { class: `task${isCritical ? " is-critical" : ""}`, "data-task": tk.id });
    if (tk.kind === "milestone") {
      group.append(s("path", { d: `M${sx},${y + 4} l8,9 l-8,9 l-8,-9 z`, class: `milestone${isCritical ? " critical" : ""}` },
        s("title", { text: `${tk.name} · ${fmt(tk.starts_at, tz)}` })));
    } else {
      const w = Math.max(4, x(Date.parse(tk.ends_at)) - sx);
      group.append(s("rect", { x: sx, y: y + 5, width: w, height: 16, rx: 3, class: `bar${isCritical ? " critical" : ""}` },
        s("title", { text: `${tk.name} · ${fmt(tk.starts_at, tz)} – ${fmt(tk.ends_at, tz)} · ${tk.progress ?? 0}% · ${t("slack")} ${tk.slack ?? "?"}` })),
        s("rect", { x: sx, y: y + 5, width: (w * Math.min(100, tk.progress || 0)) / 100, height: 16, rx: 3, class: "bar-progress" }));
      if (tk.overdue) group.append(s("rect", { x: sx - 1, y: y + 4, width: w + 2, height: 18, rx: 3, class: "overdue-outline" }));
    }
    if (canWrite()) makeDraggable(group, eventId, tk, pxPerDay, reload);
    svg.append(group);
  });
  const now = Date.now();
  if (now > min && now < max) svg.append(s("line", { x1: x(now), x2: x(now), y1: 20, y2: height, class: "today" }));
  const scroller = h("div", { class: "gantt-scroll" }, svg);
  const node = h("div", { class: "gantt" }, labels, scroller);
  // Open on the month of preparation before the event, not on the far past.
  const focus = () => { if (event.starts_at) scroller.scrollLeft = Math.max(0, x(Date.parse(event.starts_at) - 40 * DAY)); };
  return { node, focus };
}

function makeDraggable(group, eventId, task, pxPerDay, reload) {
  group.classList.add("draggable");
  let startX = null, dx = 0;
  group.addEventListener("pointerdown", (e) => {
    startX = e.clientX; dx = 0;
    group.setPointerCapture(e.pointerId);
  });
  group.addEventListener("pointermove", (e) => {
    if (startX === null) return;
    dx = e.clientX - startX;
    group.setAttribute("transform", `translate(${dx},0)`);
  });
  group.addEventListener("pointerup", async () => {
    if (startX === null) return;
    startX = null;
    const days = Math.round(dx / pxPerDay);
    group.removeAttribute("transform");
    if (days === 0) return;
    await moveTask(eventId, task, days);
    reload();
  });
}

async function moveTask(eventId, task, days) {
  const shift = (iso) => (iso ? new Date(Date.parse(iso) + days * DAY).toISOString() : iso);
  let version = task.version;
  if (version === undefined) {
    const { etag } = await api("GET", `/events/${eventId}/tasks/${task.id}`);
    version = etag ? etag.replace(/"/g, "") : undefined;
  }
  const body = { starts_at: shift(task.starts_at) };
  if (task.kind !== "milestone" && task.ends_at) body.ends_at = shift(task.ends_at);
  try {
    await api("PATCH", `/events/${eventId}/tasks/${task.id}`, body, version !== undefined ? { "If-Match": `"${version}"` } : {});
    flash(`${t("moved")}: ${task.name} (${days > 0 ? "+" : ""}${days}d)`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 412) flash(t("stale"), "error");
    else flash(problemText(err), "error");
  }
}

/* ---- Slot board -------------------------------------------------------- */

async function viewSlots(eventId) {
  const [{ data: event }, { data: plans }] = await Promise.all([
    api("GET", `/events/${eventId}`), api("GET", `/events/${eventId}/slot-plans`)]);
  const main = document.getElementById("view");
  const planItems = plans.items || plans || [];
  const board = h("div", { class: "card", id: "slot-board" });
  const refusals = h("div", { class: "card", id: "refusals" });
  const info = h("div", { class: "row", id: "run-info" });
  let run = null;
  const merchants = new Map();
  try {
    const { data } = await api("GET", "/merchants?limit=500");
    for (const m of data.items || []) merchants.set(m.id, m.name);
  } catch (_e) { /* a merchant key may not list merchants */ }
  const runButton = h("button", { class: "primary", id: "run-allocation", text: t("run_allocation"), onclick: async () => {
    runButton.disabled = true;
    try { run = (await api("POST", `/events/${eventId}/allocation-runs`, {})).data; draw(); }
    catch (err) { flash(problemText(err), "error"); }
    finally { runButton.disabled = false; }
  } });
  const publishButton = h("button", { id: "publish-run", text: t("publish"), onclick: async () => {
    if (!run) return;
    try { run = (await api("POST", `/events/${eventId}/allocation-runs/${run.id}/publish`, {})).data; draw(); flash(t("saved")); }
    catch (err) { flash(problemText(err), "error"); }
  } });
  try {
    const { data } = await api("GET", `/events/${eventId}/allocation-runs?limit=1`);
    run = (data.items || [])[0] || null;
    if (run && !run.assignments) run = (await api("GET", `/events/${eventId}/allocation-runs/${run.id}`)).data;
  } catch (_e) { run = null; }

  function draw() {
    info.replaceChildren(...(run ? [
      h("span", { class: `badge ${run.status}`, text: run.status }),
      h("span", { text: `${t("objective")}: ${run.objective}` }),
      h("span", { text: run.optimal ? t("optimal") : `${t("gap")} ${run.stats && run.stats.gap !== undefined ? run.stats.gap : "?"}` }),
    ] : [h("span", { class: "muted", text: t("no_run") })]));
    publishButton.disabled = !run || run.status !== "solved";
    if (!planItems.length) { board.replaceChildren(h("p", { class: "muted", text: t("no_plans") })); return; }
    const windows = [...new Set(planItems.flatMap((p) => p.windows || []))].sort();
    const byCell = new Map();
    for (const a of (run && run.assignments) || []) {
      const k = `${a.slot_type}|${a.window}`;
      if (!byCell.has(k)) byCell.set(k, []);
      byCell.get(k).push(a);
    }
    const chip = (a) => h("span", { class: `chip${a.locked ? " locked" : ""}`, title: `${t("position")} ${a.position}` },
      `${a.position}. ${merchants.get(a.merchant_id) || "#" + a.merchant_id}`,
      canWrite() ? h("button", { class: "link lock", text: t("lock"), onclick: () => lock(a) }) : null);
    const cell = (plan, w) => h("td", { class: "cell", "data-cell": `${plan.slot_type}|${w}` },
      (byCell.get(`${plan.slot_type}|${w}`) || []).sort((a, b) => a.position - b.position).map(chip));
    const table = h("table", { class: "board" },
      h("thead", {}, h("tr", {}, h("th", { text: t("slots") }), windows.map((w) => h("th", { text: w })))),
      h("tbody", {}, planItems.map((plan) => h("tr", {}, h("th", { text: plan.slot_type }), windows.map((w) => cell(plan, w))))));
    board.replaceChildren(table);
    const rs = (run && run.refusals) || [];
    refusals.replaceChildren(h("h2", { text: `${t("refusals")} (${rs.length})` }),
      rs.length ? h("table", {}, h("thead", {}, h("tr", {}, ["#", t("window"), t("reason"), ""].map((c) => h("th", { text: c })))),
        h("tbody", {}, rs.slice(0, 300).map((r) => h("tr", {}, h("td", { text: r.application_id }), h("td", { text: r.window }),
          h("td", { class: "reason", text: r.reason }), h("td", { text: r.detail })))))
        : h("p", { class: "muted", text: t("none") }));
  }

  async function lock(assignment) {
    try {
      await api("POST", `/events/${eventId}/locks`, { application_id: assignment.application_id, window: assignment.window });
      flash(`${t("lock")}: #${assignment.application_id} ${assignment.window}`);
    } catch (err) { flash(problemText(err), "error"); }
  }

  main.replaceChildren(eventTabs(eventId, "slots", event),
    h("div", { class: "card" }, h("div", { class: "row" }, canWrite() ? [runButton, publishButton] : null, info)), board, refusals);
  draw();
}

/* ---- Promotions and the quote simulator -------------------------------- */

async function viewPromotions(eventId) {
  const [{ data: event }, { data: promos }] = await Promise.all([
    api("GET", `/events/${eventId}`), api("GET", `/promotions?event_id=${eventId}&limit=200`)]);
  const items = promos.items || [];
  const names = new Map(items.map((p) => [p.id, p.name]));
  const riskOut = h("div", { id: "risk-out" });
  const table = h("table", { id: "promotions" },
    h("thead", {}, h("tr", {}, [t("name"), t("kind"), t("level"), t("phase"), ""].map((c) => h("th", { text: c })))),
    h("tbody", {}, items.map((p) => h("tr", {}, h("td", { text: p.name }), h("td", { text: p.kind }), h("td", { text: p.level }),
      h("td", { text: p.phase || "" }),
      h("td", {}, h("button", { class: "link", text: t("check_risk"), onclick: async () => {
        try {
          const { data } = await api("GET", `/promotions/${p.id}/risk`);
          riskOut.replaceChildren(riskTable(p, data, names));
        } catch (err) { flash(problemText(err), "error"); }
      } }))))));
  main().replaceChildren(eventTabs(eventId, "promotions", event),
    h("div", { class: "card" }, h("h2", { text: `${t("promotions")} (${items.length})` }), table, riskOut),
    await quoteSimulator(event, names));
}

function riskTable(promotion, risk, names) {
  const pct = (bp) => `${(bp / 100).toFixed(1)}%`;
  return h("div", { class: "risk" },
    h("h3", {}, `${t("risk")}: ${promotion.name} `, h("span", { class: `badge ${risk.breaks ? "failed" : "passed"}`,
      text: `${risk.breaks ? "✗" : "✓"} floor ${pct(risk.floor_bp)}` })),
    h("table", {}, h("thead", {}, h("tr", {}, ["category", "SKU", "depth", t("promotions")].map((c) => h("th", { text: c })))),
      h("tbody", {}, (risk.worst || []).map((d) => h("tr", { class: d.breaks ? "breaks" : "" },
        h("td", { text: d.category }), h("td", { text: d.sku }), h("td", { text: pct(d.depth_bp) }),
        h("td", { text: d.promotion_ids.map((id) => names.get(id) || `#${id}`).join(" + ") }))))));
}

async function quoteSimulator(event, names) {
  let merchants = [];
  try { merchants = (await api("GET", "/merchants?limit=3")).data.items || []; } catch (_e) { merchants = []; }
  const lines = h("tbody", {});
  const addLine = (line = {}) => {
    const row = h("tr", { class: "quote-line" },
      ["sku", "merchant_id", "category", "unit_price", "quantity"].map((field) =>
        h("td", {}, h("input", { name: field, value: line[field] ?? "", size: field === "category" ? 10 : 8 }))));
    lines.append(row);
  };
  // Start from real merchants, so the cart meets the event's real promotions.
  const sample = merchants.length ? merchants : [{ id: 1, categories: ["beauty"] }, { id: 2, categories: ["apparel"] }];
  sample.slice(0, 2).forEach((m, i) => addLine({ sku: `SKU-${i + 1}`, merchant_id: m.id,
    category: (m.categories || [])[0] || "general", unit_price: i ? 15900 : 29900, quantity: i + 1 }));
  const codes = h("input", { id: "coupon-codes", size: 30 });
  const peak = (event.phases || []).find((p) => p.key === "peak") || (event.phases || [])[0];
  const at = h("input", { id: "quote-at", type: "datetime-local", value: peak ? new Date(Date.parse(peak.starts_at) + 3600000).toISOString().slice(0, 16) : "" });
  const best = h("input", { id: "quote-best", type: "checkbox", checked: true });
  const out = h("div", { id: "quote-result" });
  const price = async () => {
    const body = {
      customer_id: "simulator", currency: "CNY",
      lines: [...lines.querySelectorAll("tr")].map((row, i) => {
        const get = (n) => row.querySelector(`[name=${n}]`).value.trim();
        return { id: `L${i + 1}`, sku: get("sku"), merchant_id: Number(get("merchant_id")), category: get("category"),
          unit_price: Number(get("unit_price")), quantity: Number(get("quantity")) };
      }),
      coupon_codes: codes.value.split(",").map((c) => c.trim()).filter(Boolean),
      best: best.checked,
    };
    if (at.value) body.at = `${at.value}:00Z`;
    try {
      const { data } = await api("POST", "/quote", body);
      out.replaceChildren(
        h("p", {}, `${t("subtotal")} ${money(data.subtotal)} − ${t("discount")} ${money(data.discount)} = `, h("span", { class: "total", text: money(data.total) })),
        h("h3", { text: t("applied") }),
        h("ul", {}, (data.applied || []).map((a) => h("li", { class: "applied", text: `${names.get(a.promotion_id) || "#" + a.promotion_id}${a.code ? " [" + a.code + "]" : ""} (${a.level}): −${money(a.amount)}` }))),
        h("h3", { text: t("not_applied") }),
        h("ul", {}, (data.not_applied || []).map((n) => h("li", { class: "not-applied", text: `${names.get(n.promotion_id) || (n.promotion_id ? "#" + n.promotion_id : "")}${n.code ? " [" + n.code + "]" : ""}: ${n.reason}${n.detail ? " — " + n.detail : ""}` }))));
    } catch (err) { out.replaceChildren(h("p", { class: "error", text: problemText(err) })); }
  };
  return h("div", { class: "card quote-lines", id: "quote-simulator" }, h("h2", { text: t("quote_sim") }),
    h("table", {}, h("thead", {}, h("tr", {}, ["SKU", t("merchant"), "category", "unit_price (fen)", "qty"].map((c) => h("th", { text: c })))), lines),
    h("div", { class: "row" }, h("button", { text: t("add_line"), onclick: () => addLine() }),
      h("label", {}, `${t("coupon_codes")} `, codes), h("label", {}, `${t("at")} (UTC) `, at),
      h("label", {}, best, ` ${t("best")}`), h("button", { class: "primary", id: "price-it", text: t("price_it"), onclick: price })),
    out);
}

/* ---- Launch status ----------------------------------------------------- */

async function viewLaunch(eventId) {
  const { data: event } = await api("GET", `/events/${eventId}`);
  const section = async (title, path, columns) => {
    const card = h("div", { class: "card" }, h("h2", { text: title }));
    try {
      const { data } = await api("GET", path);
      const rows = Array.isArray(data) ? data : data.items || data.gates || [];
      card.append(rows.length ? h("table", {}, h("thead", {}, h("tr", {}, columns.map(([label]) => h("th", { text: label })))),
        h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, get]) => h("td", {}, get(row)))))))
        : h("p", { class: "muted", text: t("none") }));
    } catch (err) { card.append(h("p", { class: "muted", text: problemText(err) })); }
    return card;
  };
  const badge = (value) => h("span", { class: `badge ${value}`, text: value });
  const actions = canWrite() ? h("div", { class: "card row" },
    h("button", { class: "primary", text: t("launch_now"), onclick: () => act("launch") }),
    h("button", { text: t("teardown_now"), onclick: () => act("teardown") })) : null;
  async function act(kind) {
    try {
      await api("POST", `/events/${eventId}/${kind}`, {}, { "Idempotency-Key": crypto.randomUUID() });
      flash(t("saved"));
      guard(viewLaunch)(eventId);
    } catch (err) { flash(problemText(err), "error"); }
  }
  const cards = await Promise.all([
    section(t("readiness"), `/events/${eventId}/readiness`, [["gate", (g) => g.gate || g.name], [t("status"), (g) => badge(g.passed ? "passed" : "blocked")], ["", (g) => g.detail || ""]]),
    section(t("transitions"), `/events/${eventId}/transitions`, [["action", (r) => `${r.action}${r.phase ? " · " + r.phase : ""}`], [t("due"), (r) => fmt(r.due_at, event.timezone)], [t("status"), (r) => badge(r.status)], [t("applied_at"), (r) => fmt(r.applied_at, event.timezone)], ["", (r) => r.detail || ""]]),
    section(t("job_runs"), `/job-runs?event_id=${eventId}`, [["action", (r) => r.action || r.kind || ""], ["started", (r) => fmt(r.started_at, event.timezone)], ["outcome", (r) => badge(r.outcome || r.status || "")], ["error", (r) => r.error || ""]]),
  ]);
  if (canWrite()) cards.push(await deliveriesCard(eventId, event));
  main().replaceChildren(eventTabs(eventId, "launch", event), actions, ...cards);
}

async function deliveriesCard(eventId, event) {
  const card = h("div", { class: "card", id: "deliveries" }, h("h2", { text: t("deliveries") }));
  try {
    const subscriptions = (await api("GET", "/webhook-subscriptions?limit=100")).data.items || [];
    const pages = await Promise.all(subscriptions.map((sub) =>
      api("GET", `/webhook-subscriptions/${sub.id}/deliveries?limit=500`).then((r) => ({ sub, items: r.data.items || [] }))));
    const rows = pages.flatMap(({ sub, items }) => items.filter((d) => d.event_id === Number(eventId)).map((d) => ({ sub, d })));
    if (!rows.length) { card.append(h("p", { class: "muted", text: t("none") })); return card; }
    const redeliver = async (sub, d) => {
      try { await api("POST", `/webhook-subscriptions/${sub.id}/deliveries/${d.id}/redeliver`, {}); flash(t("saved")); }
      catch (err) { flash(problemText(err), "error"); }
    };
    card.append(h("table", {}, h("thead", {}, h("tr", {}, ["type", "URL", t("status"), "attempts", "HTTP", "ms", t("applied_at"), ""].map((c) => h("th", { text: c })))),
      h("tbody", {}, rows.map(({ sub, d }) => h("tr", {}, h("td", { text: d.type }), h("td", { text: sub.url }),
        h("td", {}, h("span", { class: `badge ${d.status}`, text: d.status })), h("td", { text: d.attempts }),
        h("td", { text: d.last_status_code ?? (d.last_error || "–") }), h("td", { text: d.last_latency_ms ?? "–" }),
        h("td", { text: fmt(d.delivered_at, event.timezone) }),
        h("td", {}, h("button", { class: "link", text: "↻", title: "redeliver", onclick: () => redeliver(sub, d) })))))));
  } catch (err) { card.append(h("p", { class: "muted", text: problemText(err) })); }
  return card;
}

const main = () => document.getElementById("view");

/* ---- Router -------------------------------------------------------------- */

async function render() {
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.getElementById("lang").textContent = lang === "zh" ? "English" : "中文";
  const signedIn = Boolean(state.key);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("signout").hidden = !signedIn;
  if (!signedIn) { document.getElementById("who").textContent = ""; renderSignIn(); return; }
  if (!state.me) {
    try { state.me = (await api("GET", "/me")).data; } catch (err) { renderSignIn(problemText(err)); return; }
  }
  document.getElementById("who").textContent = `${state.me.name} · ${state.me.role}`;
  main().replaceChildren(h("p", { class: "muted", text: t("loading") }));
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (parts[0] === "events" && parts[1]) {
    const views = { gantt: viewGantt, slots: viewSlots, promotions: viewPromotions, launch: viewLaunch };
    await guard(views[parts[2]] || viewGantt)(parts[1]);
  } else {
    await guard(viewYear)(parts[0] === "year" ? parts[1] : undefined);
  }
}

document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("pp.lang", lang);
  render();
});
document.getElementById("signout").addEventListener("click", signOut);
window.addEventListener("hashchange", render);
render();
