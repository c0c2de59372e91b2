// The visitor's chat panel. It runs inside an iframe on the chat origin, so the token it keeps
// (storage.js) is out of the host page's reach. Protocol: docs/protocol.md.
import { isolated, withName } from "../shared/bidi.js";
import { kinds, withPlaceholders } from "../shared/identifiers.js";
import { createSocket, socketUrl } from "../shared/socket.js";
import { createStore } from "../widget/storage.js";
import { createTopicPicker } from "./topics.js";

const cfg = JSON.parse(document.getElementById("helao-config").textContent);
const S = cfg.strings;
const $ = (id) => document.getElementById(id);
const ui = {
  log: $("hc-log"), form: $("hc-form"), input: $("hc-input"), send: $("hc-send"),
  status: $("hc-status"), offline: $("hc-offline"), hours: $("hc-hours"),
  hoursTitle: $("hc-hours-title"), ref: $("hc-ref"), refValue: $("hc-ref-value"),
  copy: $("hc-copy"), typing: $("hc-typing"), ended: $("hc-ended"),
  feedback: $("hc-feedback"), newChat: $("hc-new"), end: $("hc-end"), min: $("hc-min"),
  idWarn: $("hc-idwarn"), ephemeral: $("hc-ephemeral"), said: $("hc-said"),
  answer: $("hc-answer"), greeting: $("hc-greeting"), contact: $("hc-contact"),
  rights: $("hc-rights"),
};
const KEY = "helao-chat";
const allowed = new Set([location.origin, ...cfg.embedOrigins]);

let host = null; // the embedding page's origin, once verified
let page = null;
let context = null;
let topic = null; // the topic the host page named (data-topic, HelaoChat.topic)
const picker = createTopicPicker($("hc-topics"), $("hc-topic"));
let live = false; // welcomed on the current socket
let catchingUp = false; // the history is still coming in pages
let announcing = false; // the history is in: what arrives now is said (say())
let visible = false;
let unread = 0;
let conv = null;
let token = null;
let held = null; // also once ended: rights.js
let agentsOnline = true;
let queueText = ""; // the server's sentence: place in the queue and estimated wait
let seenUpTo = 0; // the last agent message shown with the panel open (kept with the token)
let lastAgent = 0;
let greeting = null; // the director's greeting for this language, from the welcome
let endedHere = false;
let starting = null; // client id of the message that opens the conversation
let typingSentAt = 0;
let typingIdle = null;
let typingClear = null;
const seen = new Set();
const outbox = new Map(); // client_msg_id -> {text, li}

// --- storage (chat origin only; written once a conversation exists): ../widget/storage.js ------
const store = createStore({ key: KEY, cookie: "helao_visitor", maxAge: cfg.tokenMaxAge, path: location.pathname });
const load = () => store.load();
function save() {
  store.save(token, [...outbox].map(([cid, m]) => ({ cid, text: m.text })), seenUpTo);
}
// No storage at all for this frame: the visitor learns before writing that the chat ends with the page.
ui.ephemeral.hidden = Boolean(store.kind);

// --- talking to the loader -------------------------------------------------------------------
function toHost(msg) {
  if (host) parent.postMessage(msg, host);
}
function setActive(active) {
  // Without storage the next page cannot resume the chat: the loader is not asked to try.
  toHost({ type: "state", active: active && Boolean(store.kind) });
}
function setUnread(n) {
  unread = n;
  toHost({ type: "unread", count: n });
}

window.addEventListener("message", (e) => {
  if (e.source !== parent || !allowed.has(e.origin)) return;
  if (host && e.origin !== host) return;
  const m = e.data || {};
  if (m.type === "init") {
    host = e.origin;
    page = cleanPage(m.page);
    if (typeof m.topic === "string" && m.topic) topic = m.topic.slice(0, 40);
    if (m.context) setContext(m.context);
    const saved = load();
    if (saved) {
      token = held = saved.token;
      seenUpTo = saved.seen || 0;
      for (const item of saved.outbox || []) queue(item.text, item.cid);
    }
    setActive(Boolean(token));
    if (token || m.open) connect();
    if (m.open) opened();
  } else if (!host) {
    return;
  } else if (m.type === "open") {
    opened();
    connect();
    if (m.focus) focusFirst();
  } else if (m.type === "close") {
    visible = false;
  } else if (m.type === "context") {
    setContext(m.data);
  } else if (m.type === "page") {
    page = cleanPage(m.page);
    if (live && conv && conv.status !== "closed" && page) send({ type: "page.view", page });
  }
});

function opened() {
  visible = true;
  setUnread(0);
  sawAnswers();
}

// An answer counts as read once shown with the panel open, on this or a later visit.
function sawAnswers() {
  if (visible && lastAgent > seenUpTo) {
    seenUpTo = lastAgent;
    save();
  }
}

function cleanPage(p) {
  if (!p || typeof p.url !== "string") return null;
  return { url: p.url.slice(0, 2048), title: String(p.title || "").slice(0, 300), referrer: String(p.referrer || "").slice(0, 2048) };
}

function setContext(data) {
  if (!data || typeof data !== "object" || Array.isArray(data)) return;
  if (JSON.stringify(data).length > cfg.maxContext) {
    console.warn("HelaoChat.setContext: context is larger than", cfg.maxContext, "characters");
    return;
  }
  context = data;
  if (live && conv && conv.status !== "closed") send({ type: "context.set", data: context });
}

// --- the socket: static/shared/socket.js connects, backs off, keeps alive and resumes ----------
// (it is made after the frame handlers below).
function send(frame) {
  return socket.send(frame);
}

function connect() {
  socket.connect();
}

function socketClosed({ action }) {
  live = false;
  catchingUp = false;
  markPending(S.retrying);
  if (action === "forget") erased();
  showStatus();
}

// Resumes the conversation after the last message seen; `currentPage` is recorded as a page visit.
function hello(currentPage) {
  const frame = { type: "hello", lang: cfg.lang, screen: `${screen.width}x${screen.height}` };
  if (topic) frame.topic = topic;
  if (token) Object.assign(frame, { token, last_seen_id: socket.resumeId(), page: currentPage });
  return frame;
}

// Another tab of the same site started or ended a chat.
window.addEventListener("storage", (e) => {
  if (e.key !== KEY) return;
  const saved = load();
  if (saved && saved.token !== token && (!conv || conv.status === "closed")) {
    token = held = saved.token;
    endedHere = false;
    clearLog();
    if (live) send({ type: "hello", token, page });
    else connect();
  }
});

// --- frames from the server: one handler per type, others ignored; render() after each ----------
const handlers = {
  welcome(f) {
    live = true;
    agentsOnline = Boolean(f.agents_online);
    queueText = f.queue?.text || "";
    greeting = f.greeting;
    renderHours(f.opening_hours || []);
    picker.offer(f.topics, topic);
    renderAnswer(f.answer);
    // Answers given while the visitor was away: a badge on the launcher until the panel opens.
    const unseen = (f.messages || []).filter((m) => m.sender === "agent" && m.id > seenUpTo).length;
    if (f.conversation) {
      if (f.conversation.status === "closed" && !endedHere && !seen.size && !unseen) {
        forget();
      } else {
        setConv(f.conversation);
        (f.messages || []).forEach(addMessage);
      }
    }
    // The rest of a long history comes in pages (not for an ended chat just forgotten).
    if (!(token && followPages(f))) caughtUp();
    if (!visible && unseen) setUnread(unseen);
    sawAnswers();
  },
  "conversation.started"(f) {
    token = held = f.token;
    queueText = "";
    setConv(f.conversation);
    save();
    setActive(true);
    if (context) send({ type: "context.set", data: context });
  },
  "message.ack"(f) {
    addMessage(f.message);
    if (f.client_msg_id === starting) {
      starting = null;
      flush();
    }
  },
  "message.new"(f) {
    if (addMessage(f.message) && f.message.sender === "agent" && !visible) setUnread(unread + 1);
  },
  sync(f) {
    (f.messages || []).forEach(addMessage);
    if (!followPages(f) && catchingUp) caughtUp();
  },
  typing: (f) => showTyping(f.active ? f.name || S.agent : null),
  "conversation.updated": (f) => setConv(f.conversation),
  "queue.position": (f) => (queueText = f.text),
  "conversation.closed": (f) => setConv(f.conversation),
  availability(f) {
    agentsOnline = Boolean(f.agents_online);
  },
  // `degraded` needs no handler: the socket keeps the state, render() shows it, and when the
  // outage ends the socket says hello again on the same socket (no page visit again).
  error: (f) => onError(f),
};

const socket = createSocket({
  url: socketUrl(cfg.wsPath),
  role: "widget",
  hello: (reason) => hello(reason === "connect" ? page : null),
  handlers,
  after: render,
  onConnecting: showStatus,
  onClose: socketClosed,
  // Back online or visible again: at once, if there is a chat or the panel is open.
  wanted: () => Boolean(token) || visible,
});

// A long history comes in pages: `next.messages` is the `sync` that fetches the next one.
function followPages(f) {
  catchingUp = socket.follow(f);
  return catchingUp;
}

function caughtUp() {
  catchingUp = false;
  announcing = true;
  // Messages typed offline stay below the history they were written after.
  for (const item of outbox.values()) ui.log.append(item.li);
  flush();
}

function onError(f) {
  const item = f.ref != null ? outbox.get(String(f.ref)) : null;
  if (f.code === "bad_token") {
    forget();
    flush();
    return;
  }
  if (!item) return;
  if (f.ref === starting) starting = null;
  item.inflight = false;
  if (f.code === "rate_limited") {
    setState(item.li, S.retrying, true);
    note(S.slow);
    setTimeout(flush, 5000 + Math.random() * 5000);
  } else if (f.code === "overloaded" || f.code === "not_stored" || f.code === "server_error") {
    // A busy server says when to come back; spread over twice that, so not all at once.
    const wait = f.retry_after_ms || 3000;
    setState(item.li, S.retrying, true);
    setTimeout(flush, wait + Math.random() * wait);
  } else {
    // unavailable, closed, too_long...: resending would fail the same way.
    outbox.delete(String(f.ref));
    setState(item.li, S.failed, true);
    say(S.failed);
    save();
  }
}

function forget() {
  token = null;
  held = null;
  conv = null;
  starting = null;
  save();
  setActive(false);
}

function setConv(summary) {
  const wasClosed = conv && conv.status === "closed";
  conv = summary;
  if (summary.status === "closed" && !wasClosed) chatEnded();
}

// --- sending ---------------------------------------------------------------------------------
function newId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

function queue(text, cid = newId()) {
  const li = messageItem({ sender: "visitor", text }, true);
  li.dataset.cid = cid;
  outbox.set(cid, { text, li });
  // While the socket is (re)connecting the message will go out at once: "sending", not "failed".
  setState(li, socket.active ? S.sending : S.retrying, !socket.active);
  return cid;
}

function flush() {
  if (!live || catchingUp) return;
  // Each message is on the wire at most once per socket; the server stores each id once.
  for (const [cid, item] of outbox) {
    if (item.inflight) continue;
    if (!conv || conv.status === "closed") {
      if (starting) return;
      // Nobody online: the first message is left for customer service to answer later.
      const frame = {
        type: "conversation.start", text: item.text, client_msg_id: cid, ref: cid, offline: !agentsOnline,
        contact: (!agentsOnline && ui.contact?.value.trim()) || null,
        page, lang: cfg.lang, screen: `${screen.width}x${screen.height}`,
        topic: topic || picker.value(),
      };
      if (!send(frame)) return;
      starting = cid;
      item.inflight = true;
      setState(item.li, S.sending, false);
      return;
    }
    if (!send({ type: "message.send", text: item.text, client_msg_id: cid, ref: cid })) return;
    item.inflight = true;
    setState(item.li, S.sending, false);
  }
}

function markPending(label) {
  for (const item of outbox.values()) {
    item.inflight = false;
    setState(item.li, label, true);
  }
}

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.input.value.trim();
  if (!text || ui.input.disabled) return;
  if (!agentsOnline && ui.contact && !ui.contact.reportValidity()) return;
  ui.input.value = "";
  warnIdentifiers();
  endedHere = false;
  queue(text);
  save();
  stopTyping();
  flush();
  render();
  ui.input.focus();
});

ui.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.form.requestSubmit();
  }
});

// Before sending: say so when the text holds what the server hides (or keeps, under "warn").
function warnIdentifiers() {
  const found = cfg.identifierPolicy === "off" ? [] : kinds(ui.input.value);
  const text = found.length ? `${found.map((k) => S.idLooks[k]).join(" ")} ${S.idWill}` : "";
  if (ui.idWarn.textContent !== text) ui.idWarn.textContent = text;
  ui.idWarn.hidden = !text;
}

ui.input.addEventListener("input", () => {
  warnIdentifiers();
  if (!conv || conv.status === "closed") return;
  if (Date.now() - typingSentAt > 3000) {
    typingSentAt = Date.now();
    send({ type: "typing", active: true });
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, 4000);
});

function stopTyping() {
  clearTimeout(typingIdle);
  if (typingSentAt && conv && conv.status !== "closed") send({ type: "typing", active: false });
  typingSentAt = 0;
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") toHost({ type: "minimise" });
});
ui.min.addEventListener("click", () => toHost({ type: "minimise" }));
ui.end.addEventListener("click", () => {
  if (conv && conv.status !== "closed") send({ type: "conversation.end" });
});
ui.newChat.addEventListener("click", () => {
  conv = null;
  held = null;
  endedHere = false;
  clearLog();
  render();
  ui.input.focus();
});
ui.copy.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(ui.refValue.textContent);
    ui.copy.textContent = S.copied;
    setTimeout(() => (ui.copy.textContent = S.copy), 2000);
  } catch {
    getSelection().selectAllChildren(ui.refValue);
  }
});

// --- rendering (text only, never HTML) -------------------------------------------------------
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  return node;
}

function messageItem(m, mine) {
  const li = el("div", `msg ${mine ? "mine" : m.sender === "system" ? "system" : "agent"}`);
  if (m.sender === "system") {
    // An event in the panel's words (a transfer: the new agent joined; the end has its own
    // place below the log), the name isolated.
    const name = m.event?.name;
    const line = el("p", "");
    line.append(...(name ? withName(S.joined, name) : [m.text]));
    li.append(line);
  } else {
    const text = el("p", "text");
    text.append(...written(m.text));
    text.dir = "auto"; // what people write takes its direction from its own first letter
    li.append(isolated(mine ? S.you : m.author_name || S.agent, "who"), text);
    if (mine) li.append(el("span", "state"));
  }
  ui.log.append(li);
  ui.log.scrollTop = ui.log.scrollHeight;
  return li;
}

// A message's text; a number the server hid shows as a marked placeholder in this language.
function written(text) {
  return withPlaceholders(text, S.idLabels, { title: S.idHidden });
}

function setState(li, label, failed) {
  const state = li.querySelector(".state");
  if (state) state.textContent = label;
  li.classList.toggle("failed", Boolean(failed));
}

function addMessage(m) {
  if (!m || seen.has(m.id)) return false;
  seen.add(m.id);
  socket.seen(m.id);
  if (m.event?.kind === "ended") return true;
  const cid = m.client_msg_id;
  const pending = cid && outbox.get(cid);
  if (pending) {
    outbox.delete(cid);
    // Shown as stored: what the server hid is hidden here too.
    if (m.text !== pending.text) pending.li.querySelector(".text")?.replaceChildren(...written(m.text));
    setState(pending.li, S.sent, false);
    save();
    return true;
  }
  const li = messageItem(m, m.sender === "visitor");
  if (m.sender === "visitor") setState(li, S.sent, false);
  else if (announcing) say([...li.querySelectorAll(".who, p")].map((n) => n.textContent).join(": "));
  if (m.sender === "agent") {
    showTyping(null);
    lastAgent = Math.max(lastAgent, m.id);
    sawAnswers();
  }
  return true;
}

// The log is not a live region: history shown again (the next page, a reconnect) would be read
// out again. What arrives after the history is said once here; repeated texts are new nodes.
function say(text) {
  ui.said.append(el("p", "", text));
  if (ui.said.childElementCount > 3) ui.said.firstElementChild.remove();
}

function clearLog() {
  seen.clear();
  socket.resetSeen();
  ui.log.replaceChildren();
  ui.feedback.replaceChildren();
}

let typingName = null;
function showTyping(name) {
  clearTimeout(typingClear);
  if (name) typingClear = setTimeout(() => showTyping(null), 8000);
  // Said once while it lasts: the same words again would be read out again.
  if (name === typingName) return;
  typingName = name;
  ui.typing.replaceChildren(...(name ? withName(S.typing, name) : []));
}

function renderAnswer(a) {
  const next = a && !a.open_now && a.next_opening;
  ui.answer.textContent = next ? S.answerFrom.replace("{when}", `${S.weekdays[next.weekday]} ${next.time}`) : S.answerSoon;
}

function renderHours(hours) {
  ui.hours.replaceChildren(
    ...hours.map((h) => el("li", "", `${S.weekdays[h.weekday] || ""} ${h.opens}–${h.closes}`)),
  );
  ui.hoursTitle.hidden = !hours.length;
}

let noteText = "";
function note(text) {
  noteText = text;
  showStatus();
  setTimeout(() => {
    if (noteText === text) noteText = "";
    showStatus();
  }, 6000);
}

function showStatus() {
  let text = noteText;
  if (!text && !live && (token || visible)) text = socket.attempt ? S.reconnecting : S.connecting;
  if (!text && socket.degraded) text = S.degraded;
  if (!text && conv && conv.status === "waiting" && agentsOnline) text = queueText || S.waiting;
  // A live region: rewritten only when its words change, so nothing is read out twice.
  if (ui.status.textContent !== text) ui.status.textContent = text;
  ui.status.hidden = !text;
}

function chatEnded() {
  endedHere = true;
  const ended = { token, reference: conv && conv.reference, lang: cfg.lang };
  stopTyping();
  showTyping(null);
  // The conversation is over: its token is no longer kept in this browser.
  token = null;
  starting = null;
  save();
  setActive(false);
  for (const [cid, item] of outbox) {
    setState(item.li, S.failed, true);
    outbox.delete(cid);
  }
  if (cfg.feedbackUrl && ended.token) {
    import(cfg.feedbackUrl)
      .then((m) => m.renderFeedback(ui.feedback, {
        ...ended,
        // Skipping every question removes the questions, and the focus with them.
        onDone: () => document.activeElement === document.body && ui.newChat.focus(),
      }))
      .catch(() => {
        /* feedback is optional; the chat has ended either way */
      });
  }
  render();
  ui.newChat.focus();
}

function render() {
  const before = document.activeElement;
  const open = conv && conv.status !== "closed";
  const closed = conv && conv.status === "closed";
  const away = !agentsOnline && !(conv && conv.status === "active");
  ui.offline.hidden = !away || Boolean(closed);
  // Nobody online: the message box takes a message to leave, and says so to screen readers.
  ui.input.setAttribute("aria-describedby", ui.offline.hidden ? "hc-idwarn" : "hc-offline hc-idwarn");
  ui.form.hidden = Boolean(closed);
  ui.ended.hidden = !closed;
  ui.end.hidden = !open;
  ui.ref.hidden = !conv;
  picker.show(!open && !starting && !outbox.size && !away);
  if (ui.rights) ui.rights.hidden = !(held && conv);
  if (conv) ui.refValue.textContent = conv.reference;
  // Shown until an agent answers; it is the panel's, never stored with the chat.
  const g = greeting && (!conv || conv.status === "waiting") ? greeting : null;
  ui.greeting.hidden = !g;
  if (g) ui.greeting.replaceChildren(g.text, ...(g.agents.length ? [" ", ...withName(S.onlineNow, g.agents.join(", "))] : []));
  showStatus();
  // A control that had focus and is now disabled or hidden (the welcome said nobody is online
  // just after the panel opened) would leave focus on nothing: it moves to the first one usable.
  if (visible && before && before !== document.body && (before.disabled || !before.getClientRects().length)) focusFirst();
}

function focusFirst() {
  const target = conv && conv.status === "closed" ? ui.newChat : ui.input.disabled ? ui.min : ui.input;
  target.focus();
}

let rights;
if (ui.rights) ui.rights.onclick = ({ target }) => {
  rights ??= import("./rights.js").then((m) => m.createRights({ token: () => held, erased, focusFirst }));
  rights.then((r) => r[target.id]?.(target)).catch(() => (rights = null));
};

function erased() {
  outbox.clear();
  forget();
  clearLog();
  note(S.erased);
  document.querySelectorAll("dialog[open]").forEach((d) => d.close());
  render();
  focusFirst();
}

render();
// The loader answers with "init"; nothing is said to a page that is not an embedding site.
parent.postMessage({ type: "ready" }, "*");
