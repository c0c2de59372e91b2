// The floor view: agents with their load, chats per topic, chats going on. The page's first
// state comes with it; then it asks for a fresh one every few seconds. Text is set as text.
const $ = (id) => document.getElementById(id);
const T = JSON.parse($("floor-strings").textContent);
const REFRESH = JSON.parse($("floor-refresh").textContent) * 1000;

function cell(text, props = {}) {
  const td = document.createElement("td");
  td.textContent = text;
  for (const [k, v] of Object.entries(props)) td.setAttribute(k, v);
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function emptyRow(text, span) {
  return row(cell(text, { colspan: String(span) }));
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function render(floor) {
  const agents = floor.agents.map((a) => {
    const name = cell("");
    name.append(Object.assign(document.createElement("bdi"), { textContent: a.name }));
    const load = cell(`${a.load} / ${a.capacity}`);
    if (a.load >= a.capacity) load.className = "full";
    return row(name, cell(T[a.presence] || a.presence), load);
  });
  $("floor-agents").replaceChildren(...(agents.length ? agents : [emptyRow(T.no_agents, 3)]));
  $("floor-topics").replaceChildren(
    ...floor.topics.map((t) => row(cell(t.name), cell(String(t.waiting)), cell(String(t.active)), cell(t.waiting ? duration(t.longest_wait_seconds) : "–"))),
  );
  const chats = floor.chats.map((c) => {
    const link = document.createElement("a");
    link.href = `/console/floor/chat/${encodeURIComponent(c.reference)}/`;
    link.textContent = T.watch;
    link.setAttribute("aria-label", T.watch_label.replace("%s", c.reference));
    const agent = cell("");
    const who = document.createElement("bdi");
    who.textContent = c.agent || (c.offered_to ? T.offered_to.replace("%s", c.offered_to) : "–");
    agent.append(who);
    const follow = cell("");
    follow.append(link);
    return row(cell(c.reference), cell(T[c.status] || c.status), cell(c.topic), agent, cell(duration(c.waited_seconds)), follow);
  });
  $("floor-chats").replaceChildren(...(chats.length ? chats : [emptyRow(T.no_chats, 6)]));
  $("floor-status").textContent = T.updated.replace("%s", new Date().toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" }));
}

async function refresh() {
  try {
    const response = await fetch("/console/floor/data/", { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.redirected || response.status === 403) {
      location.reload();
      return;
    }
    if (!response.ok) throw new Error(String(response.status));
    render(await response.json());
  } catch {
    $("floor-status").textContent = T.stale;
  }
}

render(JSON.parse($("floor-state").textContent));
setInterval(() => {
  if (!document.hidden) refresh();
}, REFRESH);
