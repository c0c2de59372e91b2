// The shared socket module (static/shared/socket.js) with a fake WebSocket and node's mock timers:
// backoff and its jitter, resume by last id, close codes, keepalive, the handler table.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";

import {
  BACKOFF_CAP_MS,
  PING_EVERY_MS,
  RESTART_MAX_MS,
  RESTART_MIN_MS,
  SILENT_AFTER_MS,
  backoffDelay,
  closeAction,
  createSocket,
  dispatch,
  restartDelay,
  socketUrl,
} from "../../static/shared/socket.js";

// A WebSocket that the test opens, feeds and closes by hand.
function fakeWebSocket() {
  const made = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      made.push(this);
    }
    send(data) {
      this.sent.push(JSON.parse(data));
    }
    close() {
      this.readyState = 3;
      this.closedByClient = true;
    }
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    receive(frame) {
      this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
    }
    drop(code) {
      this.readyState = 3;
      this.onclose?.({ code });
    }
  }
  return { FakeSocket, made, last: () => made.at(-1) };
}

// A page's socket on a fake WebSocket, a fixed "random" and fake online/visibility events.
function page({ role = "console", random = () => 0.5, wanted, handlers = {} } = {}) {
  const fake = fakeWebSocket();
  const win = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = "visible";
  const closes = [];
  const frames = [];
  const socket = createSocket({
    url: "ws://chat.test/ws/agent/",
    role,
    hello: (reason) => ({ type: "hello", reason, last_seen_id: socket.resumeId() }),
    handlers,
    after: (frame) => frames.push(frame.type),
    onClose: (info) => closes.push(info),
    wanted,
    random,
    WebSocket: fake.FakeSocket,
    win,
    doc,
  });
  return { socket, ...fake, win, doc, closes, frames };
}

// `times` connects that fail, each followed by its full backoff.
function failConnects(p, times) {
  for (let i = 0; i < times; i += 1) {
    p.last().drop(1006);
    mock.timers.tick(BACKOFF_CAP_MS);
  }
}

describe("backoff", () => {
  it("waits from nothing up to 1 s, 2 s, 4 s… and never more than 30 s", () => {
    const top = () => 1 - Number.EPSILON;
    assert.equal(backoffDelay(0, () => 0), 0);
    const caps = [0, 1, 2, 3, 4, 5, 6, 20, 1000].map((attempt) => Math.round(backoffDelay(attempt, top)));
    assert.deepEqual(caps, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
    assert.equal(BACKOFF_CAP_MS, 30000);
  });

  it("spreads clients over the whole window (full jitter)", () => {
    assert.equal(backoffDelay(3, () => 0.25), 2000);
    assert.equal(backoffDelay(3, () => 0.75), 6000);
    const spread = new Set(Array.from({ length: 50 }, () => Math.round(backoffDelay(4) / 1000)));
    assert.ok(spread.size > 5, `50 clients chose only ${spread.size} distinct seconds`);
  });

  it("comes back from a restart within a short jittered delay", () => {
    assert.equal(restartDelay(() => 0), RESTART_MIN_MS);
    assert.ok(restartDelay(() => 1 - Number.EPSILON) < RESTART_MAX_MS);
    assert.ok(RESTART_MAX_MS <= 3000);
  });
});

describe("close codes", () => {
  it("follows the table in docs/protocol.md", () => {
    assert.equal(closeAction(4003, "console"), "login");
    assert.equal(closeAction(4003, "widget"), "backoff");
    assert.equal(closeAction(4004, "widget"), "forget");
    assert.equal(closeAction(4004, "console"), "backoff");
    assert.equal(closeAction(4012, "console"), "restart");
    assert.equal(closeAction(4012, "widget"), "restart");
    for (const code of [1000, 1006, 4008, 4009, 4011, 4029]) {
      assert.equal(closeAction(code, "console"), "backoff");
      assert.equal(closeAction(code, "widget"), "backoff");
    }
  });
});

describe("dispatch", () => {
  it("hands a frame to the handler of its type", () => {
    const got = [];
    const handlers = { welcome: (f) => got.push(["welcome", f.n]), pong: () => got.push(["pong"]) };
    assert.equal(dispatch(handlers, { type: "welcome", n: 1 }), true);
    assert.equal(dispatch(handlers, { type: "pong" }), true);
    assert.deepEqual(got, [["welcome", 1], ["pong"]]);
  });

  it("ignores unknown types, inherited names and frames that are not objects", () => {
    const handlers = { welcome: () => assert.fail("not a welcome") };
    for (const frame of [
      { type: "surprise" },
      { type: "constructor" },
      { type: "toString" },
      { type: "__proto__" },
      { type: 7 },
      {},
      null,
      "welcome",
      ["welcome"],
    ]) {
      assert.equal(dispatch(handlers, frame), false);
    }
  });

  it("builds the socket's address from the page's", () => {
    assert.equal(socketUrl("/ws/agent/", { protocol: "https:", host: "chat.example:8443" }), "wss://chat.example:8443/ws/agent/");
    assert.equal(socketUrl("/ws/visitor/", { protocol: "http:", host: "127.0.0.1:8000" }), "ws://127.0.0.1:8000/ws/visitor/");
  });
});

describe("the socket", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it("says hello on open and hands each frame to its handler, skipping the rest", () => {
    const seen = [];
    const p = page({ handlers: { "message.new": (f) => seen.push(f.message.id) } });
    p.socket.connect();
    p.socket.connect(); // one socket at a time
    assert.equal(p.made.length, 1);
    assert.equal(p.last().url, "ws://chat.test/ws/agent/");
    assert.equal(p.socket.send({ type: "ping" }), false, "nothing is sent before the socket opens");
    p.last().open();
    assert.deepEqual(p.last().sent, [{ type: "hello", reason: "connect", last_seen_id: null }]);
    p.last().receive({ type: "message.new", message: { id: 5 } });
    p.last().receive({ type: "from.the.future" });
    p.last().receive("{not json");
    p.last().receive("null");
    assert.deepEqual(seen, [5]);
    assert.deepEqual(p.frames, ["message.new", "from.the.future"]);
  });

  it("reconnects with growing backoff and starts over after a welcome", () => {
    const p = page({ random: () => 1 - Number.EPSILON });
    p.socket.connect();
    p.last().drop(1006);
    assert.equal(p.closes.at(-1).action, "backoff");
    assert.ok(Math.abs(p.closes.at(-1).delay - 1000) < 1);
    mock.timers.tick(999);
    assert.equal(p.made.length, 1, "not before the delay");
    mock.timers.tick(1);
    assert.equal(p.made.length, 2);
    p.last().drop(1006);
    assert.ok(Math.abs(p.closes.at(-1).delay - 2000) < 1);
    mock.timers.tick(2000);
    p.last().open();
    p.last().receive({ type: "welcome" });
    assert.equal(p.socket.attempt, 0);
    p.last().drop(4011);
    assert.ok(Math.abs(p.closes.at(-1).delay - 1000) < 1, "a welcome resets the backoff");
  });

  it("resumes after the highest id seen", () => {
    const p = page();
    p.socket.connect();
    p.last().open();
    p.socket.seen(12);
    p.socket.seen(40);
    p.socket.seen(33);
    p.last().drop(1006);
    mock.timers.tick(BACKOFF_CAP_MS);
    p.last().open();
    assert.deepEqual(p.last().sent[0], { type: "hello", reason: "connect", last_seen_id: 40 });
    p.socket.resetSeen();
    assert.equal(p.socket.resumeId(), null);
  });

  it("catches up on the same socket after an outage, from the id it had when it began", () => {
    const p = page({ handlers: { degraded: () => {} } });
    p.socket.connect();
    p.last().open();
    p.socket.seen(50);
    p.last().receive({ type: "degraded", active: true });
    assert.equal(p.socket.degraded, true);
    p.socket.seen(57); // own message acknowledged during the outage
    p.last().receive({ type: "welcome" }); // an answer while still degraded keeps the point
    assert.equal(p.socket.resumeId(), 50);
    p.last().receive({ type: "degraded", active: false });
    assert.equal(p.socket.degraded, false);
    assert.equal(p.made.length, 1, "no reconnect");
    assert.deepEqual(p.last().sent.at(-1), { type: "hello", reason: "catch-up", last_seen_id: 50 });
    p.last().receive({ type: "welcome" });
    assert.equal(p.socket.resumeId(), 57, "caught up: resumes from the newest id again");
  });

  it("keeps the outage's resume point through a reconnect until a welcome", () => {
    const p = page();
    p.socket.connect();
    p.last().open();
    p.socket.seen(50);
    p.last().receive({ type: "degraded", active: true });
    p.socket.seen(57);
    p.last().drop(1006);
    assert.equal(p.socket.degraded, false);
    mock.timers.tick(BACKOFF_CAP_MS);
    p.last().open();
    assert.equal(p.last().sent[0].last_seen_id, 50);
  });

  it("sends the console to the login page on 4003 and does not reconnect", () => {
    const p = page({ role: "console" });
    p.socket.connect();
    p.last().open();
    p.last().drop(4003);
    assert.deepEqual(p.closes, [{ code: 4003, action: "login", delay: null, attempt: 0 }]);
    mock.timers.tick(10 * BACKOFF_CAP_MS);
    p.win.dispatchEvent(new Event("online"));
    assert.equal(p.made.length, 1);
  });

  it("tells the panel to forget an erased chat, then reconnects", () => {
    const p = page({ role: "widget" });
    p.socket.connect();
    p.last().open();
    p.last().drop(4004);
    assert.equal(p.closes.at(-1).action, "forget");
    mock.timers.tick(BACKOFF_CAP_MS);
    assert.equal(p.made.length, 2);
  });

  it("comes back quickly from a restart, however many closes came before", () => {
    const p = page({ random: () => 1 - Number.EPSILON });
    p.socket.connect();
    failConnects(p, 6);
    p.last().open();
    p.last().drop(4012);
    assert.equal(p.closes.at(-1).action, "restart");
    assert.ok(p.closes.at(-1).delay < RESTART_MAX_MS);
    const before = p.made.length;
    mock.timers.tick(RESTART_MAX_MS);
    assert.equal(p.made.length, before + 1);
  });

  it("comes back after the delay a stopping server asked for", () => {
    const p = page();
    p.socket.connect();
    p.last().open();
    p.last().receive({ type: "restart", retry_after_ms: 4200 });
    p.last().drop(4012);
    assert.equal(p.closes.at(-1).delay, 4200);
    const before = p.made.length;
    mock.timers.tick(4199);
    assert.equal(p.made.length, before);
    mock.timers.tick(1);
    assert.equal(p.made.length, before + 1);
  });

  it("pings every 25 s and gives up a socket silent for 60 s", () => {
    const p = page();
    p.socket.connect();
    const first = p.last();
    first.open();
    mock.timers.tick(PING_EVERY_MS);
    assert.deepEqual(first.sent.at(-1), { type: "ping" });
    first.receive({ type: "pong" });
    mock.timers.tick(PING_EVERY_MS);
    assert.deepEqual(first.sent.at(-1), { type: "ping" });
    assert.equal(first.closedByClient, undefined);
    // No answer from now on.
    mock.timers.tick(SILENT_AFTER_MS + PING_EVERY_MS);
    assert.equal(first.closedByClient, true);
    assert.equal(p.closes.at(-1).action, "backoff");
    assert.equal(p.socket.active, false);
    first.drop(1006); // the browser's late close event changes nothing
    assert.equal(p.closes.length, 1);
    mock.timers.tick(BACKOFF_CAP_MS);
    assert.equal(p.made.length, 2);
  });

  it("reconnects at once when the browser is back online or the tab is visible again", () => {
    const p = page({ random: () => 1 - Number.EPSILON });
    p.socket.connect();
    failConnects(p, 4);
    p.last().drop(1006);
    assert.equal(p.made.length, 5);
    p.win.dispatchEvent(new Event("online"));
    assert.equal(p.made.length, 6);
    assert.equal(p.socket.attempt, 0);
    p.win.dispatchEvent(new Event("online")); // already connecting
    assert.equal(p.made.length, 6);
    p.last().drop(1006);
    p.doc.visibilityState = "hidden";
    p.doc.dispatchEvent(new Event("visibilitychange"));
    assert.equal(p.made.length, 6);
    p.doc.visibilityState = "visible";
    p.doc.dispatchEvent(new Event("visibilitychange"));
    assert.equal(p.made.length, 7);
  });

  it("does not reconnect early for a page that has no use for the socket", () => {
    let wanted = false;
    const p = page({ wanted: () => wanted });
    p.win.dispatchEvent(new Event("online"));
    assert.equal(p.made.length, 0);
    wanted = true;
    p.win.dispatchEvent(new Event("online"));
    assert.equal(p.made.length, 1);
  });

  it("stays closed once stopped, and ignores the old socket's frames", () => {
    const seen = [];
    const p = page({ handlers: { "message.new": (f) => seen.push(f.message.id) } });
    p.socket.connect();
    const sock = p.last();
    sock.open();
    p.socket.stop();
    assert.equal(sock.closedByClient, true);
    sock.receive({ type: "message.new", message: { id: 1 } });
    sock.drop(1000);
    mock.timers.tick(10 * BACKOFF_CAP_MS);
    p.win.dispatchEvent(new Event("online"));
    p.socket.connect();
    assert.equal(p.made.length, 1);
    assert.deepEqual(seen, []);
    assert.deepEqual(p.closes, []);
  });

  it("follows every list that has more pages", () => {
    const p = page();
    p.socket.connect();
    p.last().open();
    const next = {
      queue: { type: "list.page", list: "queue", after_id: 9 },
      messages: { type: "sync", last_seen_id: 3, cursor: 120 },
    };
    assert.equal(p.socket.follow({ type: "welcome", next }), true);
    assert.deepEqual(p.last().sent.slice(1), [next.queue, next.messages]);
    assert.equal(p.socket.follow({ type: "sync", more: false }), false);
  });
});
