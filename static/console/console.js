// The agent console: one websocket, a table of frame handlers, everything rendered as text.
import { isolated, withName, withVisibleControls } from "../shared/bidi.js";
import { plainPlaceholders, withPlaceholders } from "../shared/identifiers.js";
import { createSocket, socketUrl } from "../shared/socket.js";
import { outboxFrame, setupNotes } from "./notes.js";
import { createWrapUp, wrapUpSummary } from "./wrapup.js";
import { createIdleWarning, createSigninEndWarning } from "./idle.js";
import { createRouting } from "./routing.js";

const cfg = JSON.parse(document.getElementById("console-config").textContent);
const T = JSON.parse(document.getElementById("console-strings").textContent);
const $ = (id) => document.getElementById(id);
const fmt = (s, v) => s.replace("%s", v);
const csrf = () => document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";

const state = {
  me: cfg.me,
  queue: new Map(), // id -> queue item
  estimates: new Map(), // id -> the wait estimate the visitor sees (chat/wait_estimate.py)
  chats: new Map(), // id -> {conv, messages: Map, unread, detail, typing, closed}
  current: null,
  agents: new Map(),
  canned: [],
  presence: "offline",
  muted: localStorage.getItem("console.muted") === "1",
  outbox: new Map(), // client_msg_id -> {conversation_id, text, kind: "message" | "note"}
  heartbeat: cfg.heartbeat_seconds || 10,
  // Catching up after a welcome: the lists still being fetched page by page ("chats", "queue",
  // "agents", "canned", "messages"), and the chats the server says are still open.
  loading: new Set(),
  openChats: new Set(),
};

// --- small helpers -------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const since = (iso) => (Date.now() - Date.parse(iso)) / 1000;
// The service's time zone and a 24-hour clock in every language, as on the server's pages.
const clockFormat = new Intl.DateTimeFormat(cfg.language, {
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
  timeZone: cfg.time_zone,
});
const clock = (iso) => (iso ? clockFormat.format(new Date(iso)) : "");

function announce(text) {
  const box = $("alert");
  box.textContent = "";
  // A fresh text node makes screen readers announce repeated messages too.
  setTimeout(() => (box.textContent = text), 50);
}

// The message log is not a live region, or every switch between chats and every resumed history
// would be read out again; what is new is said once here, each text a node of its own.
function say(text) {
  const box = $("said");
  box.append(el("p", { text }));
  if (box.childElementCount > 3) box.firstElementChild.remove();
}

function setConn(text, ok = false) {
  $("conn").textContent = text;
  $("conn").classList.toggle("ok", ok);
}

// --- alerts: sound, notification, title ------------------------------------------------------

let audio;
function beep() {
  if (state.muted) return;
  try {
    audio ??= new AudioContext();
    const o = audio.createOscillator();
    const g = audio.createGain();
    const t = audio.currentTime;
    o.frequency.value = 880;
    g.gain.setValueAtTime(0.0001, t);
    g.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, t + 0.4);
    o.connect(g).connect(audio.destination);
    o.start(t);
    o.stop(t + 0.45);
  } catch {
    /* no audio device: the title and the notification still tell */
  }
}

function notify(item) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (!document.hidden) return;
  try {
    const n = new Notification(T.new_chat, { body: plain(item.first_message || "").slice(0, 120), tag: "helao-queue" });
    n.onclick = () => window.focus();
  } catch {
    /* some browsers allow notifications only from a service worker */
  }
}

function updateTitle() {
  const waiting = state.queue.size;
  const unread = [...state.chats.values()].reduce((n, c) => n + c.unread, 0);
  const count = waiting + unread;
  document.title = `${count ? `(${count}) ` : ""}${T.title} · helao-chat`;
}

function renderMute() {
  const b = $("mute");
  b.setAttribute("aria-pressed", String(state.muted));
  b.textContent = state.muted ? T.muted : T.unmuted;
}

function toggleMute() {
  state.muted = !state.muted;
  localStorage.setItem("console.muted", state.muted ? "1" : "0");
  renderMute();
}

// --- the socket ------------------------------------------------------------------------------
// Connecting, backoff, keepalive and resume are static/shared/socket.js's; the socket itself is
// made after the frame handlers below.

let heartbeatTimer = null;

function send(frame) {
  return socket.send(frame);
}

function socketClosed({ action, delay, attempt }) {
  clearInterval(heartbeatTimer);
  showDegraded();
  if (action === "login") {
    sessionEnded();
    return;
  }
  setConn(fmt(T.reconnecting, Math.max(1, Math.ceil(delay / 1000))));
  if (attempt >= 2) checkSession();
}

// While the server's live updates are disturbed (docs/protocol.md, "Outages").
function showDegraded() {
  $("degraded").textContent = socket.degraded ? T.degraded : "";
}

// Keeps the login session alive; 204 while signed in (a redirect means it has ended).
function postKeepalive() {
  return fetch(cfg.keepalive_url, {
    method: "POST",
    headers: { "X-CSRFToken": csrf() },
    credentials: "same-origin",
    redirect: "manual",
  });
}

async function stillSignedIn() {
  try {
    return (await postKeepalive()).status === 204;
  } catch {
    return false;
  }
}

async function checkSession() {
  // A refused handshake looks like a network error; ask over HTTP whether we are still signed in.
  try {
    const res = await postKeepalive();
    if (res.status !== 204 && res.status < 500 && res.type !== "error") sessionEnded();
  } catch {
    /* offline: keep trying the socket */
  }
}

let resumedAt = 0;

async function sessionEnded() {
  socket.stop();
  // Signed in again in another tab ("Sign in again"): the old session is gone, the new one
  // carries on here with everything as it was. Once a minute at most, so that a refusal that
  // is not about the sign-in cannot loop.
  if (Date.now() - resumedAt > 60000 && (await stillSignedIn())) {
    resumedAt = Date.now();
    socket.resume();
    return;
  }
  setConn(T.session_ended);
  announce(T.session_ended);
  location.assign(`${cfg.login_url}?next=/console/`);
}

function startHeartbeat() {
  clearInterval(heartbeatTimer);
  heartbeatTimer = setInterval(() => send({ type: "presence.set", status: state.presence }), state.heartbeat * 1000);
}

// Only real activity keeps the session alive; an open socket alone does not.
let activeSinceKeepalive = false;
for (const kind of ["keydown", "pointerdown"]) document.addEventListener(kind, () => (activeSinceKeepalive = true));
// Warned before the idle timeout ends the sign-in; one button renews it (WCAG 2.2.1).
const idle = createIdleWarning({
  seconds: cfg.idle_seconds,
  box: $("idle-warning"),
  stay: $("idle-stay"),
  renew: async () => {
    try {
      return (await postKeepalive()).status === 204;
    } catch {
      return false;
    }
  },
});
// Warned before the sign-in's absolute lifetime ends it, however busy the agent (WCAG 2.2.1):
// "Sign in again" opens the sign-in in another tab, whose new sign-in this console carries on.
const endsAtText = new Intl.DateTimeFormat(cfg.language, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: cfg.time_zone });
const signinEnd = createSigninEndWarning({
  secondsLeft: cfg.signin_seconds_left,
  box: $("signin-end"),
  text: $("signin-end-text"),
  format: (endsAt) => T.signin_ends.replace("{time}", endsAtText.format(endsAt)),
  onShow: announce,
});
if ("BroadcastChannel" in window) {
  new BroadcastChannel("helao-signin").onmessage = ({ data }) => {
    if (data?.type !== "renewed") return;
    // Another account signed in in that tab: this console is no longer this agent's.
    if (data.userId !== cfg.me.id) {
      location.assign("/console/");
      return;
    }
    signinEnd.renewed(data.secondsLeft);
    idle.renewed();
    // The socket may stand on a session key the new sign-in replaced (a second factor cycles it).
    socket.stop();
    socket.resume();
  };
}
setInterval(async () => {
  if (!activeSinceKeepalive) return;
  activeSinceKeepalive = false;
  try {
    const res = await postKeepalive();
    if (res.status === 204) idle.renewed();
    else if (res.status < 500) sessionEnded();
  } catch {
    /* network down; the socket's reconnect loop handles it */
  }
}, 60000);

// --- state changes ---------------------------------------------------------------------------

function chatFor(conv) {
  let chat = state.chats.get(conv.id);
  if (!chat) {
    chat = { conv, messages: new Map(), unread: 0, detail: null, typing: false, closed: false, rendered: 0 };
    state.chats.set(conv.id, chat);
  } else {
    chat.conv = { ...chat.conv, ...conv };
  }
  chat.closed = conv.status === "closed";
  return chat;
}

function addMessage(m) {
  socket.seen(m.id);
  const chat = state.chats.get(m.conversation_id);
  if (!chat || chat.erased || chat.messages.has(m.id)) return;
  chat.messages.set(m.id, m);
  if (m.client_msg_id && state.outbox.delete(m.client_msg_id)) {
    document.querySelector(`[data-pending="${CSS.escape(m.client_msg_id)}"]`)?.remove();
  }
  if (m.sender === "visitor") {
    chat.typing = false;
    if (state.current !== chat.conv.id || document.hidden) chat.unread += 1;
  }
  if (state.current === chat.conv.id) {
    if (m.id > chat.rendered) appendMessage(m);
    else renderLog();
    renderTyping();
  }
  renderChats();
}

function addChat(conv, detail, messages, { select = false } = {}) {
  const chat = chatFor(conv);
  if (detail) chat.detail = detail;
  state.queue.delete(conv.id);
  for (const m of messages || []) addMessage(m);
  renderQueue();
  renderChats();
  if (select || state.current === null) selectChat(conv.id);
  else if (state.current === conv.id) renderCurrent();
}

function removeChat(id) {
  state.chats.delete(id);
  if (state.current === id) {
    state.current = null;
    renderCurrent();
  }
  renderChats();
}

// --- frames from the server: one small handler per type; other types are ignored ----------------

const routing = createRouting({ state, T, el, send, announce, say, alert: (item) => (beep(), notify(item)), rerender: () => renderQueue() });

const handlers = {
  ...routing.handlers,
  welcome(ev) {
    state.me = ev.me;
    routing.welcome(ev);
    state.heartbeat = ev.heartbeat_seconds || state.heartbeat;
    state.presence = ev.me.presence;
    $("presence").value = state.presence;
    if (state.presence !== "offline") send({ type: "presence.set", status: state.presence });
    startHeartbeat();
    state.queue = new Map();
    state.estimates = new Map((ev.queue_estimates || []).map((e) => [e.id, e.estimate]));
    state.agents = new Map();
    state.canned = [];
    state.openChats = new Set();
    state.loading = new Set(Object.keys(ev.next || {}));
    wrapUp.setLists(ev.wrap_up);
    mergeLists(ev);
    for (const m of ev.messages) addMessage(m);
    followPages(ev);
    setConn(T.connected, true);
    renderAll();
    if (!state.loading.size) caughtUp();
    if (state.current === null && state.chats.size) selectChat(state.chats.keys().next().value);
  },

  "list.page"(ev) {
    mergeLists(ev);
    followPages(ev, ev.list);
    if (ev.list === "chats") renderChats();
    else if (ev.list === "queue") renderQueueSoon();
    else if (ev.list === "agents") renderAgents();
    else if (ev.list === "canned") renderCannedPicker();
  },

  "queue.added"(ev) {
    const item = ev.conversation;
    const isNew = !state.queue.has(item.id);
    state.queue.set(item.id, { ...state.queue.get(item.id), ...item });
    renderQueue();
    if (isNew) {
      beep();
      notify(item);
      announce(T.new_chat);
    }
  },

  // Each waiting chat's place and estimated wait, sent when the queue or the agents online change.
  "queue.changed"(ev) {
    state.estimates = new Map(ev.items.map((e) => [e.id, e.estimate]));
    renderQueueSoon();
  },

  "queue.message"(ev) {
    const item = state.queue.get(ev.conversation_id);
    if (item && !item.first_message && ev.message.sender === "visitor") {
      item.first_message = ev.message.text;
      renderQueue();
    }
  },

  "page.view"(ev) {
    const item = state.queue.get(ev.conversation_id);
    if (item) {
      item.current_page = ev.page;
      renderQueue();
    }
    const chat = state.chats.get(ev.conversation_id);
    if (chat?.detail) {
      chat.detail.pages_total = (chat.detail.pages_total ?? chat.detail.pages.length) + 1;
      chat.detail.pages.push(ev.page);
      chat.detail.current_page = ev.page;
      if (state.current === chat.conv.id) renderPanel();
    }
  },

  "context.set"(ev) {
    const chat = state.chats.get(ev.conversation_id);
    if (chat?.detail) {
      chat.detail.context = ev.context;
      if (state.current === chat.conv.id) renderPanel();
    }
  },

  "conversation.claim.ok"(ev) {
    addChat(ev.conversation, ev.detail, ev.messages, { select: true });
    $("text").focus();
    followPages(ev);
  },

  "conversation.detail"(ev) {
    addChat(ev.conversation, ev.detail, ev.messages);
    followPages(ev);
  },

  "conversation.claimed"(ev) {
    state.queue.delete(ev.conversation.id);
    renderQueue();
    // Taken in another tab of mine: load it here too.
    if (ev.conversation.agent_id === state.me.id && !state.chats.has(ev.conversation.id)) {
      send({ type: "conversation.detail", conversation_id: ev.conversation.id });
    }
  },

  "conversation.transferred"(ev) {
    const conv = ev.conversation;
    if (conv.agent_id === state.me.id) {
      if (!state.chats.has(conv.id)) send({ type: "conversation.detail", conversation_id: conv.id });
      else chatFor(conv);
    } else if (state.chats.has(conv.id)) {
      announce(fmt(T.transferred_away, conv.agent_name || routing.topicName(conv.topic_id)));
      removeChat(conv.id);
    }
  },

  "conversation.updated"(ev) {
    const chat = state.chats.get(ev.conversation.id);
    if (chat && ev.conversation.agent_id === state.me.id) chatFor(ev.conversation);
  },

  "conversation.closed"(ev) {
    state.queue.delete(ev.conversation.id);
    renderQueue();
    const chat = state.chats.get(ev.conversation.id);
    if (chat) {
      chatFor(ev.conversation);
      chat.typing = false;
      renderChats();
      if (state.current === chat.conv.id) renderCurrent();
    }
  },

  // Erased (by the visitor from the widget, or on a data-subject request): the chat ends for
  // good and nothing of it stays on screen; the agent is told who erased it.
  "conversation.erased"(ev) {
    const id = ev.conversation_id;
    if (state.queue.delete(id)) renderQueue();
    const chat = state.chats.get(id);
    if (!chat || chat.erased) return;
    chat.erased = ev.by === "visitor" ? T.erased_visitor : T.erased_request;
    chat.conv = { ...chat.conv, status: "closed" };
    chat.closed = true;
    chat.typing = false;
    chat.messages = new Map();
    chat.detail = null;
    announce(chat.erased);
    renderChats();
    if (state.current === id) renderCurrent();
  },

  "conversation.wrapped_up"(ev) {
    const chat = state.chats.get(ev.conversation_id);
    if (!chat) return;
    chat.wrapUp = ev.wrap_up;
    announce(T.wrap_up_saved);
    if (state.current === chat.conv.id) renderCurrent();
  },

  "message.new"(ev) {
    const m = ev.message;
    const fresh = !state.chats.get(m.conversation_id)?.messages.has(m.id);
    addMessage(m);
    // The open chat's new visitor message is said once (the log is not live: see say()).
    if (fresh && m.sender === "visitor" && state.current === m.conversation_id) {
      say(`${T.visitor}: ${el("span", {}, ...writtenText(m.text)).textContent}`);
    }
  },
  "message.ack": (ev) => addMessage(ev.message),

  sync(ev) {
    for (const m of ev.messages) addMessage(m);
    // One chat's history (after a claim) or the welcome's messages of every chat.
    followPages(ev, ev.conversation_id ? null : "messages");
  },

  typing(ev) {
    const chat = state.chats.get(ev.conversation_id);
    if (!chat) return;
    chat.typing = ev.active;
    clearTimeout(chat.typingTimer);
    if (ev.active) chat.typingTimer = setTimeout(() => ((chat.typing = false), renderTyping()), 8000);
    if (state.current === chat.conv.id) renderTyping();
  },

  presence(ev) {
    state.agents.set(ev.agent.id, ev.agent);
    if (ev.agent.id === state.me.id) {
      state.presence = ev.agent.presence;
      $("presence").value = state.presence;
    }
    renderAgents();
  },

  "session.ended": () => sessionEnded(),

  // The socket asks for the state again itself when the outage is over.
  degraded: () => showDegraded(),

  error(ev) {
    if (ev.code === "guidance_required") {
      socket.stop();
      location.assign("/console/guidance/");
      return;
    }
    // A chat taken by a colleague, or gone (closed, erased), leaves the queue.
    if ((ev.code === "already_taken" || ev.code === "not_found") && ev.ref) {
      state.queue.delete(ev.ref);
      renderQueue();
    }
    if (typeof ev.ref === "string" && state.outbox.has(ev.ref) && messageRefused(ev)) return;
    announce(T[`error_${ev.code}`] || fmt(T.error_generic, ev.message || ev.code));
  },
};

const socket = createSocket({
  url: socketUrl(cfg.socket_path),
  role: "console",
  // The whole state after the last id seen: on every connect, and after an outage.
  hello: () => ({ type: "hello", last_seen_id: socket.resumeId() }),
  handlers,
  after: updateTitle,
  onConnecting: () => setConn(T.connecting),
  onClose: socketClosed,
});

// --- catching up page by page -----------------------------------------------------------------

// The welcome's lists after a reconnect: chats with their visitor panels, queue, colleagues,
// canned replies (the first page in `welcome`, the next ones in `list.page`).
function mergeLists(ev) {
  for (const conv of ev.chats || []) {
    state.openChats.add(conv.id);
    const chat = chatFor(conv);
    chat.detail = ev.details?.[String(conv.id)] || chat.detail;
  }
  for (const q of ev.queue || []) state.queue.set(q.id, q);
  for (const a of ev.agents || []) state.agents.set(a.id, a);
  if (ev.canned) state.canned = [...state.canned, ...ev.canned];
}

// A frame too large for one socket frame comes in pages: `next` names, for each list with more
// to come, the frame that fetches its next page. `list` is the list this frame continued; the
// welcome's catch-up is done once none of its lists has more.
function followPages(ev, list) {
  socket.follow(ev);
  if (list && !ev.next?.[list] && state.loading.delete(list) && !state.loading.size) caughtUp();
}

function caughtUp() {
  // Chats the server no longer lists as open were closed or transferred meanwhile.
  for (const [id, chat] of state.chats) if (!state.openChats.has(id)) chat.closed = true;
  renderAll();
  // Messages typed while the connection was down, after the history they were written after:
  // the server stores each once.
  for (const id of state.outbox.keys()) sendPending(id);
}

let queueRender = 0;
function renderQueueSoon() {
  // Pages of a long queue arrive back to back: draw once per animation frame, not per page.
  if (!queueRender) queueRender = requestAnimationFrame(() => ((queueRender = 0), renderQueue()));
}

// --- rendering -------------------------------------------------------------------------------

function renderAll() {
  renderQueue();
  renderChats();
  renderAgents();
  renderCurrent();
  renderMute();
}

// The estimate's words in the agent's language; the estimate itself is the server's.
function estimateText(e) {
  if (!e) return "";
  if (e.kind === "minutes") return fmt(T.est_minutes, e.minutes);
  if (e.kind === "range") return fmt(fmt(T.est_range, e.low), e.high);
  return T[`est_${e.kind}`] || "";
}

function queueItems() {
  return [...state.queue.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
}

function queueItem(q) {
  const page = q.current_page;
  return el(
    "li",
    { class: "queue-item", "data-id": q.id },
    el(
      "div",
      { class: "q-head" },
      el("span", { class: "wait", "data-since": q.created_at, text: fmt(T.waiting_for, duration(since(q.created_at))) }),
      el("span", { class: "estimate small", text: estimateText(state.estimates.get(q.id)) }),
      el("button", {
        type: "button",
        class: "primary",
        text: T.take,
        "aria-label": `${T.take}: ${q.reference}`,
        onclick: () => claim(q.id),
      }),
    ),
    ...routing.queueExtras(q, claim),
    el("p", { class: "first", dir: "auto" }, ...writtenText(q.first_message || "")),
    el("p", { class: "page small", dir: page ? "auto" : null, title: plain(page?.url || ""), text: page ? plain(page.title || page.url) : T.no_page }),
  );
}

function renderQueue() {
  const list = $("queue");
  // Messages left while nobody was online wait in their own list, not in the queue.
  const all = queueItems();
  const items = all.filter((q) => !q.offline);
  const left = all.filter((q) => q.offline);
  list.replaceChildren(...items.map(queueItem));
  $("offline-queue").replaceChildren(...left.map(queueItem));
  $("offline-count").textContent = String(left.length);
  $("offline-section").hidden = !left.length;
  const more = state.loading.has("queue");
  // While further pages are on their way, the count is a lower bound.
  $("queue-count").textContent = `${items.length}${more ? "+" : ""}`;
  list.setAttribute("aria-busy", String(more));
  $("queue-empty").hidden = items.length > 0 || more;
  updateTitle();
}

function renderChats() {
  const list = $("chats");
  const chats = [...state.chats.values()];
  list.replaceChildren(
    ...chats.map((chat, i) => {
      const label = `${i + 1}. ${chat.conv.reference}`;
      const btn = el(
        "button",
        { type: "button", class: "chat-btn", "aria-current": state.current === chat.conv.id ? "true" : null, onclick: () => selectChat(chat.conv.id) },
        el("span", { text: label }),
      );
      if (chat.closed) btn.append(el("span", { class: "muted small", text: ` · ${chat.erased || T.closed}` }));
      if (chat.unread) btn.append(el("span", { class: "badge", text: String(chat.unread), "aria-label": fmt(T.unread, chat.unread) }));
      return el("li", {}, btn);
    }),
  );
  $("chats-empty").hidden = chats.length > 0;
  updateTitle();
}

function renderAgents() {
  const list = $("agents");
  list.replaceChildren(
    ...[...state.agents.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((a) =>
        el("li", { class: `presence-${a.presence}` }, el("span", { class: "dot", "aria-hidden": "true" }), el("span", {}, isolated(a.name), ` – ${T[a.presence] || a.presence}`)),
      ),
  );
  renderTransfer();
}

function renderTransfer() {
  const select = $("transfer-to");
  const online = [...state.agents.values()].filter((a) => a.presence === "online" && a.id !== state.me.id);
  select.replaceChildren(...online.map((a) => el("option", { value: a.id, text: a.name })));
  if (!online.length) select.append(el("option", { value: "", text: T.transfer_none }));
  const topics = routing.transferOptions();
  select.append(...topics);
  const none = !online.length && !topics.length;
  select.disabled = none;
  $("transfer-form").querySelector("button").disabled = none;
}

// What people wrote keeps its characters, but bidi controls in it show as visible markers and
// the paragraph takes its direction from its own text.
// A number the chat hid shows as a marked placeholder in the agent's language.
const writtenText = (text) =>
  withPlaceholders(text, T.id_labels, { title: T.id_hidden, wrap: (t) => withVisibleControls(t, T.bidi_control) });
// Page titles, addresses and context from the web service: isolated, hidden numbers marked.
function isolatedText(text, className = "") {
  const node = isolated("", className);
  node.append(...withPlaceholders(text || "", T.id_labels, { title: T.id_hidden }));
  return node;
}
const plain = (text) => plainPlaceholders(text, T.id_labels);

// A system event in the console's language, names isolated (chat/system_events.py tells the
// same facts on the server); a system text from before events existed, as it is.
function systemText(m) {
  const ev = m.event;
  if (!ev) return [m.text];
  if (ev.kind === "joined") return withName(T.joined, ev.name);
  if (ev.kind === "transferred") {
    return withName(T.ev_transferred, ev.from, "{from}").flatMap((n) => (typeof n === "string" ? withName(n, ev.name) : [n]));
  }
  if (ev.by === "visitor") return [T.ev_ended_visitor];
  return ev.by === "agent" && ev.name ? withName(T.ev_ended_agent, ev.name) : [T.ev_ended_system];
}

function messageNode(m) {
  const system = m.sender === "system";
  const who = m.sender === "visitor" ? T.visitor : system ? T.system : m.author_name || T.you;
  // A note says so before its author: it was never sent to the visitor.
  const kind = m.sender === "note" ? el("strong", { text: `${T.note_label} · ` }) : null;
  return el(
    "li",
    { class: `msg ${m.sender}`, "data-id": m.id },
    el("span", { class: "meta" }, kind, isolated(who), el("span", { text: m.created_at ? ` · ${clock(m.created_at)}` : "" })),
    el("p", { class: "text", dir: system ? null : "auto" }, ...(system ? systemText(m) : writtenText(m.text))),
  );
}

function pendingNode(id, item) {
  const sender = item.kind === "note" ? "note" : "agent";
  const node = messageNode({ id: 0, sender, author_name: state.me.name, text: item.text, created_at: null });
  node.classList.add("pending");
  node.dataset.pending = id;
  node.querySelector(".meta").append(" · ", el("span", { class: "state", text: T.sending }));
  return node;
}

function appendMessage(m) {
  const chat = state.chats.get(m.conversation_id);
  const firstPending = $("log").querySelector("[data-pending]");
  $("log").insertBefore(messageNode(m), firstPending);
  chat.rendered = m.id;
  scrollLog();
}

function scrollLog() {
  const log = $("log-wrap");
  log.scrollTop = log.scrollHeight;
}

function renderLog() {
  const chat = state.chats.get(state.current);
  const log = $("log");
  if (!chat) return log.replaceChildren();
  const messages = [...chat.messages.values()].sort((a, b) => a.id - b.id);
  $("log-wrap").setAttribute("aria-busy", "true");
  const pending = [...state.outbox].filter(([, item]) => item.conversation_id === state.current);
  log.replaceChildren(...messages.map(messageNode), ...pending.map(([id, item]) => pendingNode(id, item)));
  $("log-wrap").setAttribute("aria-busy", "false");
  chat.rendered = messages.length ? messages[messages.length - 1].id : 0;
  scrollLog();
}

function renderTyping() {
  const chat = state.chats.get(state.current);
  const text = chat?.typing && !chat.closed ? T.typing : "";
  // Set only when it changes: the same words set again would be read out again.
  if ($("typing").textContent !== text) $("typing").textContent = text;
}

function fact(list, label, value, labelDir = null) {
  list.append(el("dt", { dir: labelDir, text: label }), el("dd", { dir: "auto", text: value === undefined || value === null || value === "" ? "–" : String(value) }));
}

function renderPanel() {
  const chat = state.chats.get(state.current);
  const panel = $("panel");
  const d = chat?.detail;
  panel.hidden = !d;
  if (!d) return;
  const facts = $("panel-facts");
  facts.replaceChildren();
  const page = d.current_page;
  fact(facts, T.current_page, page ? plain(page.title || page.url) : "");
  if (page) facts.lastChild.append(el("br"), isolatedText(page.url, "small muted"));
  fact(facts, T.ip, d.ip_address);
  fact(facts, T.browser, d.browser);
  fact(facts, T.os, d.os);
  fact(facts, T.device, d.device_type);
  fact(facts, T.language, d.language);
  fact(facts, T.screen, d.screen);
  // Given by a visitor who left a message (CHAT_OFFLINE_CONTACT): where the answer is announced.
  if (d.contact_email) fact(facts, T.contact_email, d.contact_email);
  fact(facts, T.referrer, plain(d.referrer));
  fact(facts, T.started, clock(d.started_at));
  fact(facts, T.waited, duration(d.waited_seconds));
  // The panel carries the latest pages; `pages_total` counts them all.
  const earlier = (d.pages_total || 0) - d.pages.length;
  $("panel-pages").replaceChildren(
    ...d.pages
      .slice()
      .reverse()
      .map((p) => el("li", {}, el("span", { text: `${clock(p.created_at)} ` }), isolatedText(p.title || p.url), el("br"), isolatedText(p.url, "small muted"))),
    ...(earlier > 0 ? [el("li", { class: "small muted", text: fmt(T.pages_earlier, earlier) })] : []),
  );
  const ctx = $("panel-context");
  ctx.replaceChildren();
  // The keys come from the web service too, so they are isolated like the values.
  for (const [k, v] of Object.entries(d.context || {})) fact(ctx, k, v == null ? v : plain(typeof v === "object" ? JSON.stringify(v) : String(v)), "auto");
}

function renderCurrent() {
  const chat = state.chats.get(state.current);
  $("placeholder").hidden = Boolean(chat);
  $("chat").hidden = !chat;
  if (!chat) {
    $("panel").hidden = true;
    return;
  }
  $("chat-h").textContent = chat.conv.reference;
  $("composer").hidden = chat.closed;
  $("note-form").hidden = chat.closed;
  $("transfer-form").hidden = chat.closed;
  $("close-chat").hidden = chat.closed;
  $("chat-closed").hidden = !chat.closed;
  $("chat-closed-text").textContent = chat.erased || T.closed;
  $("wrap-up-open").hidden = !chat.closed || Boolean(chat.erased) || !wrapUp.available();
  $("wrap-up-summary").textContent = chat.erased ? "" : wrapUpSummary(chat.wrapUp, wrapUp.lists, T);
  renderLog();
  renderTyping();
  renderPanel();
  renderCannedPicker();
}

function selectChat(id) {
  if (!state.chats.has(id)) return;
  state.current = id;
  const chat = state.chats.get(id);
  chat.unread = 0;
  renderChats();
  renderCurrent();
}

// --- actions ---------------------------------------------------------------------------------

function claim(id) {
  send({ type: "conversation.claim", conversation_id: id, ref: id });
}

function newId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

let typingSent = false;
let typingTimer = null;
function typing(active) {
  if (state.current === null || active === typingSent) return;
  typingSent = active;
  send({ type: "typing", conversation_id: state.current, active });
}

// A message refused for a passing reason (a busy server, a database hiccup, a rate limit) is
// resent after the delay the server asks for, or a few seconds; one refused for good leaves the
// outbox and is marked as not sent. Returns whether the error is dealt with (not announced).
const RESEND_AFTER = { overloaded: 1000, not_stored: 3000, server_error: 3000, rate_limited: 5000 };

function messageRefused(ev) {
  const id = ev.ref;
  const base = RESEND_AFTER[ev.code];
  const node = document.querySelector(`[data-pending="${CSS.escape(id)}"]`);
  if (base === undefined) {
    state.outbox.delete(id);
    if (node) {
      node.classList.replace("pending", "failed");
      node.removeAttribute("data-pending");
      node.querySelector(".state").textContent = T.not_sent;
    }
    return false;
  }
  const item = state.outbox.get(id);
  if (node) node.querySelector(".state").textContent = T.retrying;
  clearTimeout(item.retry);
  const wait = Math.max(base, ev.retry_after_ms || 0);
  item.retry = setTimeout(() => sendPending(id), wait + Math.random() * wait);
  return ev.code !== "rate_limited";
}

function sendPending(id) {
  const item = state.outbox.get(id);
  if (!item) return;
  clearTimeout(item.retry);
  const frame = outboxFrame(id, item);
  const label = document.querySelector(`[data-pending="${CSS.escape(id)}"] .state`);
  if (send(frame) && label) label.textContent = T.sending;
}

// Puts a message (or an internal note) in the outbox and sends it; false without a chat.
function queueOutgoing(text, kind = "message") {
  if (!text || state.current === null) return false;
  const id = newId();
  const item = { conversation_id: state.current, text, kind };
  state.outbox.set(id, item);
  $("log").append(pendingNode(id, item));
  sendPending(id);
  scrollLog();
  return true;
}

function sendMessage() {
  const box = $("text");
  if (!queueOutgoing(box.value.trim())) return;
  box.value = "";
  clearTimeout(typingTimer);
  typing(false);
  hideCanned();
}

// --- canned replies --------------------------------------------------------------------------

function cannedForCurrent() {
  const chat = state.chats.get(state.current);
  const lang = (chat?.conv.language || chat?.detail?.language || "").slice(0, 2).toLowerCase();
  const mine = state.canned.filter((c) => c.language === lang);
  return mine.length ? mine : state.canned.filter((c) => c.language === (state.me.language || cfg.language));
}

function renderCannedPicker() {
  const pick = $("canned-pick");
  const first = pick.options[0];
  pick.replaceChildren(first, ...cannedForCurrent().map((c, i) => el("option", { value: String(i), text: `/${c.shortcut} – ${c.title}` })));
}

function insertCanned(c) {
  const box = $("text");
  box.value = box.value.startsWith("/") ? c.text : box.value + (box.value && !box.value.endsWith(" ") ? " " : "") + c.text;
  hideCanned();
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

let cannedMatches = [];
let cannedIndex = 0;
function showCanned(prefix) {
  cannedMatches = cannedForCurrent().filter((c) => c.shortcut.startsWith(prefix));
  cannedIndex = 0;
  const list = $("canned-list");
  list.hidden = false;
  if (!cannedMatches.length) {
    list.replaceChildren(el("li", { role: "option", "aria-disabled": "true", class: "muted", text: T.canned_none }));
    return;
  }
  list.replaceChildren(
    ...cannedMatches.map((c, i) =>
      el("li", { role: "option", id: `canned-${i}`, "aria-selected": i === cannedIndex ? "true" : "false", onclick: () => insertCanned(c) }, el("strong", { text: `/${c.shortcut} ` }), el("span", { text: c.title })),
    ),
  );
  $("text").setAttribute("aria-activedescendant", "canned-0");
}

function moveCanned(step) {
  if (!cannedMatches.length) return;
  cannedIndex = (cannedIndex + step + cannedMatches.length) % cannedMatches.length;
  $("canned-list")
    .querySelectorAll("[role=option]")
    .forEach((li, i) => li.setAttribute("aria-selected", i === cannedIndex ? "true" : "false"));
  $("text").setAttribute("aria-activedescendant", `canned-${cannedIndex}`);
}

function hideCanned() {
  $("canned-list").hidden = true;
  cannedMatches = [];
  $("text").removeAttribute("aria-activedescendant");
}

const cannedOpen = () => !$("canned-list").hidden;

// --- wiring ----------------------------------------------------------------------------------

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  sendMessage();
});

$("text").addEventListener("keydown", (e) => {
  if (cannedOpen()) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      moveCanned(e.key === "ArrowDown" ? 1 : -1);
      return;
    }
    if ((e.key === "Enter" || e.key === "Tab") && cannedMatches.length) {
      e.preventDefault();
      insertCanned(cannedMatches[cannedIndex]);
      return;
    }
    if (e.key === "Escape") {
      e.preventDefault();
      hideCanned();
      return;
    }
  }
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    sendMessage();
  }
});

$("text").addEventListener("input", () => {
  const value = $("text").value;
  const match = /^\/([\w-]*)$/.exec(value);
  if (match) showCanned(match[1]);
  else if (cannedOpen()) hideCanned();
  if (value.trim() && !value.startsWith("/")) {
    typing(true);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => typing(false), 3000);
  }
});

$("canned-pick").addEventListener("change", (e) => {
  const c = cannedForCurrent()[Number(e.target.value)];
  e.target.value = "";
  if (c) insertCanned(c);
});

$("transfer-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const frame = state.current !== null && routing.transferFrame(state.current, $("transfer-to").value);
  if (frame) send(frame);
});

const wrapUp = createWrapUp({ dialog: $("wrap-up"), T, el, send });

function closeCurrent() {
  const chat = state.chats.get(state.current);
  if (!chat || chat.closed) return;
  // With the director's lists, ending a chat is its wrap-up; without, a confirmation.
  if (wrapUp.available()) wrapUp.open(chat, { closing: true });
  else if (window.confirm(T.confirm_close)) send({ type: "conversation.close", conversation_id: chat.conv.id });
}

$("close-chat").addEventListener("click", closeCurrent);
$("wrap-up-open").addEventListener("click", () => {
  const chat = state.chats.get(state.current);
  if (chat?.closed && !chat.erased) wrapUp.open(chat, { closing: false });
});
setupNotes({ form: $("note-form"), box: $("note-text"), queue: queueOutgoing });
$("dismiss").addEventListener("click", () => {
  if (state.current !== null) removeChat(state.current);
  $("conversation").focus();
});

$("presence").addEventListener("change", (e) => {
  state.presence = e.target.value;
  send({ type: "presence.set", status: state.presence });
});

$("mute").addEventListener("click", toggleMute);

if ("Notification" in window && Notification.permission === "default") {
  $("notify").hidden = false;
  $("notify").addEventListener("click", async () => {
    await Notification.requestPermission();
    $("notify").hidden = Notification.permission !== "default";
    if (Notification.permission === "granted") announce(T.notifications_on);
  });
}

document.addEventListener("keydown", (e) => {
  if (!e.altKey || e.ctrlKey || e.metaKey) return;
  const ids = [...state.chats.keys()];
  const at = ids.indexOf(state.current);
  if (e.code === "KeyN") {
    const oldest = queueItems()[0];
    if (oldest) claim(oldest.id);
  } else if (/^Digit[1-9]$/.test(e.code)) {
    const id = ids[Number(e.code.slice(5)) - 1];
    if (id !== undefined) selectChat(id);
  } else if (e.code === "ArrowDown" || e.code === "ArrowUp") {
    if (!ids.length) return;
    const next = ids[(at + (e.code === "ArrowDown" ? 1 : -1) + ids.length) % ids.length];
    selectChat(next);
  } else if (e.code === "KeyM") toggleMute();
  else if (e.code === "KeyE") closeCurrent();
  else return;
  e.preventDefault();
});

document.addEventListener("visibilitychange", () => {
  const chat = state.chats.get(state.current);
  if (!document.hidden && chat && chat.unread) {
    chat.unread = 0;
    renderChats();
  }
});

// An offer's seconds left, every second (routing.js; the count is not read out every second).
setInterval(() => {
  for (const span of document.querySelectorAll("#queue .offer-left")) span.textContent = routing.leftText(span.dataset.expires);
  routing.tick();
}, 1000);

// Waiting times tick without a server round trip.
setInterval(() => {
  for (const span of document.querySelectorAll("#queue .wait")) span.textContent = fmt(T.waiting_for, duration(since(span.dataset.since)));
}, 15000);

renderMute();
socket.connect();
