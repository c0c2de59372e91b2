// Following a live chat read-only: new messages are fetched every few seconds and appended as
// text. Nothing here can write into the chat.
const $ = (id) => document.getElementById(id);
const cfg = JSON.parse($("monitor-config").textContent);
const T = JSON.parse($("monitor-strings").textContent);
let lastId = cfg.last_id || 0;
let timer = null;

function eventText(ev) {
  const fill = (s) => s.replace("{name}", ev.name || "").replace("{from}", ev.from || "");
  if (ev.kind === "joined") return fill(T.ev_joined);
  if (ev.kind === "transferred") return fill(T.ev_transferred);
  if (ev.kind === "ended") return fill(T[`ev_ended_${ev.by}`] || T.ev_ended_system);
  return ev.kind;
}

function item(m) {
  const li = document.createElement("li");
  li.className = `msg ${m.sender}`;
  li.dataset.id = m.id;
  const meta = document.createElement("span");
  meta.className = "meta";
  const who = document.createElement("bdi");
  who.textContent = m.sender === "visitor" ? T.visitor : m.sender === "system" ? T.system : m.author_name;
  const time = document.createElement("time");
  time.dateTime = m.created_at;
  time.textContent = new Date(m.created_at).toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
  meta.append(who, " · ", time);
  const text = document.createElement("p");
  text.className = "text";
  text.dir = "auto";
  text.textContent = m.event ? eventText(m.event) : m.text;
  li.append(meta, text);
  return li;
}

async function poll() {
  try {
    const url = `/console/floor/chat/${encodeURIComponent(cfg.reference)}/messages/?after=${lastId}`;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    for (const m of data.messages) {
      if (m.id <= lastId) continue;
      $("monitor-log").append(item(m));
      lastId = m.id;
    }
    if (data.status === "closed") {
      $("monitor-status").textContent = T.closed;
      clearInterval(timer);
    } else {
      $("monitor-status").textContent = T[data.status] || data.status;
    }
  } catch {
    /* the next poll tries again */
  }
}

timer = setInterval(poll, cfg.refresh_seconds * 1000);
