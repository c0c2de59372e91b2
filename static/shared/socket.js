// One websocket for a page (the console's or the visitor panel's): connects, says `hello`, hands
// every frame to a table of handlers, keeps the socket alive, and after a close reconnects with
// one backoff policy and resumes after the last message id seen. Protocol: docs/protocol.md.

export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 30000;
// A server restart (4012) ends every socket at once: back soon, but not all in the same instant.
export const RESTART_MIN_MS = 250;
export const RESTART_MAX_MS = 2500;
export const PING_EVERY_MS = 25000;
export const SILENT_AFTER_MS = 60000;

// The close codes a client acts on (docs/protocol.md, "Close codes"); any other code backs off.
export const CLOSE = { FORBIDDEN: 4003, ERASED: 4004, RESTART: 4012 };
const ABNORMAL = 1006;
const OPEN = 1;

// Exponential backoff with full jitter: anywhere from 0 to 1 s, 2 s, 4 s… at most 30 s, so a
// restarted server is not hit by every client at once. `attempt` counts from 0.
export function backoffDelay(attempt, random = Math.random) {
  return random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 15));
}

export function restartDelay(random = Math.random) {
  return RESTART_MIN_MS + random() * (RESTART_MAX_MS - RESTART_MIN_MS);
}

// What the client does after a close with `code`: "login" (the console's login has ended; no
// reconnect), "forget" (the panel's chat was erased; then back off), "restart" (a short jittered
// delay) or "backoff".
export function closeAction(code, role) {
  if (code === CLOSE.FORBIDDEN && role === "console") return "login";
  if (code === CLOSE.ERASED && role === "widget") return "forget";
  if (code === CLOSE.RESTART) return "restart";
  return "backoff";
}

// Calls the handler for `frame.type`; a frame of a type without one is ignored. Returns whether
// a handler ran.
export function dispatch(handlers, frame) {
  if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return false;
  if (!Object.hasOwn(handlers, frame.type)) return false;
  handlers[frame.type](frame);
  return true;
}

export function socketUrl(path, where = globalThis.location) {
  return `${where.protocol === "https:" ? "wss:" : "ws:"}//${where.host}${path}`;
}

/**
 * The socket of one page. Options:
 * - `url`: the websocket URL; `role`: "console" or "widget" (see closeAction).
 * - `hello(reason)`: the frame sent on "connect", and again on the same socket to "catch-up"
 *   after a `degraded` outage ends; `resumeId()` is the `last_seen_id` it should carry.
 * - `handlers`: {type: function(frame)}; `after(frame)` runs after each frame.
 * - `onConnecting()`, `onClose({code, action, delay, attempt})` (`delay` null: no reconnect).
 * - `wanted()`: whether to reconnect at once when the browser is back online or the tab is
 *   visible again (default: always).
 * - `random`, `WebSocket`, `win`, `doc`: stand-ins for tests.
 */
export function createSocket(options) {
  const { url, role, hello, handlers, after, onConnecting, onClose } = options;
  const wanted = options.wanted ?? (() => true);
  const random = options.random ?? Math.random;
  const win = options.win ?? globalThis.window;
  const doc = options.doc ?? globalThis.document;

  let ws = null;
  let attempt = 0;
  let stopped = false;
  let retryTimer = null;
  let keepTimer = null;
  let lastFrameAt = 0;
  let degraded = false;
  let lastSeen = 0;
  // The last id seen when an outage was announced: own messages acknowledged during it have
  // later ids than the other side's messages it hid. Resumed from until a welcome after it.
  let resumeFrom = null;
  // The delay a stopping server asked for in its `restart` frame (it spreads its clients).
  let restartAfter = null;

  function send(frame) {
    if (!ws || ws.readyState !== OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    if (stopped || ws) return;
    clearTimeout(retryTimer);
    // Looked up on each connect, so that a page script (or a test) may wrap WebSocket.
    const Socket = options.WebSocket ?? globalThis.WebSocket;
    const sock = new Socket(url);
    ws = sock;
    sock.onopen = () => {
      if (ws !== sock) return;
      lastFrameAt = Date.now();
      send(hello("connect"));
      clearInterval(keepTimer);
      keepTimer = setInterval(keepAlive, PING_EVERY_MS);
    };
    sock.onmessage = (e) => {
      if (ws !== sock) return;
      lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      receive(frame);
    };
    sock.onclose = (e) => {
      if (ws === sock) closed(e.code);
    };
    onConnecting?.();
  }

  function receive(frame) {
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "degraded") {
      degraded = Boolean(frame.active);
      if (degraded) resumeFrom ??= lastSeen;
    }
    if (frame.type === "restart" && Number.isFinite(frame.retry_after_ms)) {
      restartAfter = Math.min(Math.max(frame.retry_after_ms, 0), BACKOFF_CAP_MS);
    }
    dispatch(handlers, frame);
    if (frame.type === "welcome") {
      attempt = 0;
      if (!degraded) resumeFrom = null;
    }
    // The outage is over and its events are lost: the same socket asks for the state again.
    if (frame.type === "degraded" && !frame.active) send(hello("catch-up"));
    after?.(frame);
  }

  function closed(code) {
    ws = null;
    clearInterval(keepTimer);
    degraded = false;
    const action = closeAction(code, role);
    let delay = null;
    if (action === "login") {
      stopped = true;
    } else {
      attempt += 1;
      if (action === "restart") delay = restartAfter ?? restartDelay(random);
      else delay = backoffDelay(attempt - 1, random);
      restartAfter = null;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, delay);
    }
    onClose?.({ code, action, delay, attempt });
  }

  // A socket that went quiet (a sleeping laptop, a dead proxy) is given up at once, so that the
  // backoff takes over instead of a close handshake that may never finish.
  function keepAlive() {
    if (!ws || ws.readyState !== OPEN) return;
    if (Date.now() - lastFrameAt <= SILENT_AFTER_MS) {
      send({ type: "ping" });
      return;
    }
    const sock = ws;
    closed(ABNORMAL);
    sock.close();
  }

  function reconnectNow() {
    if (stopped || ws || !wanted()) return;
    attempt = 0;
    connect();
  }
  win?.addEventListener("online", reconnectNow);
  doc?.addEventListener("visibilitychange", () => {
    if (doc.visibilityState === "visible") reconnectNow();
  });

  return {
    connect,
    send,
    // No more reconnects (the page is leaving, or the server said not to come back).
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      clearInterval(keepTimer);
      const sock = ws;
      ws = null;
      sock?.close();
    },
    // Connects again after `stop()` (the console's sign-in was renewed in another tab).
    resume() {
      stopped = false;
      attempt = 0;
      connect();
    },
    // A list too long for one frame comes in pages: `next` holds, per list with more, the frame
    // that fetches its next page, sent as it is. Returns whether any was sent.
    follow(frame) {
      let sent = false;
      for (const next of Object.values(frame.next || {})) sent = send(next) || sent;
      return sent;
    },
    // Message ids as they are shown: a resume asks for everything after the highest.
    seen(id) {
      lastSeen = Math.max(lastSeen, id);
    },
    resetSeen() {
      lastSeen = 0;
      resumeFrom = null;
    },
    resumeId() {
      return resumeFrom ?? (lastSeen || null);
    },
    // A socket exists (opening or open).
    get active() {
      return ws !== null;
    },
    // Closes since the last welcome.
    get attempt() {
      return attempt;
    },
    // The server's live updates are disturbed (docs/protocol.md, "Outages").
    get degraded() {
      return degraded;
    },
  };
}
