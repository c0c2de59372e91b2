// The panel's token store (static/widget/storage.js) against stand-ins for what a browser allows
// a third-party frame: localStorage, only a partitioned cookie, or nothing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createStore } from "../../static/widget/storage.js";

// A cookie jar that keeps what a browser would: `partitionedOnly` refuses cookies without the
// Partitioned attribute, `none` refuses every cookie.
function fakeDocument({ cookies = "all" } = {}) {
  const jar = new Map();
  const writes = [];
  return {
    writes,
    jar,
    get cookie() {
      return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    },
    set cookie(line) {
      writes.push(line);
      if (cookies === "none") return;
      if (cookies === "partitioned" && !line.includes("; Partitioned")) return;
      const [pair, ...attrs] = line.split("; ");
      const [name, value] = pair.split("=");
      const age = attrs.find((a) => a.startsWith("Max-Age="));
      if (age && Number(age.slice(8)) <= 0) jar.delete(name);
      else jar.set(name, value);
    },
  };
}

function fakeWindow({ storage = true } = {}) {
  const items = new Map();
  const localStorage = {
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => items.set(k, String(v)),
    removeItem: (k) => items.delete(k),
  };
  return {
    items,
    get localStorage() {
      if (!storage) throw new Error("Access is denied for this document.");
      return localStorage;
    },
  };
}

const OPTIONS = { key: "helao-chat", cookie: "helao_visitor", maxAge: 100, path: "/widget/panel/" };

describe("createStore", () => {
  it("keeps the token and the outbox in localStorage when the frame may use it", () => {
    const win = fakeWindow();
    const doc = fakeDocument();
    const store = createStore({ ...OPTIONS, win, doc });
    assert.equal(store.kind, "local");
    assert.deepEqual(doc.writes, [], "no cookie is written when storage works");
    assert.equal(store.load(), null);
    store.save("tok-1", [{ cid: "c1", text: "hi" }], 41);
    assert.deepEqual(createStore({ ...OPTIONS, win, doc }).load(), {
      token: "tok-1",
      outbox: [{ cid: "c1", text: "hi" }],
      seen: 41,
    });
    store.save(null, []);
    assert.equal(win.items.size, 0);
  });

  it("falls back to a partitioned cookie, leaving nothing behind before a chat", () => {
    const win = fakeWindow({ storage: false });
    const doc = fakeDocument({ cookies: "partitioned" });
    const store = createStore({ ...OPTIONS, win, doc });
    assert.equal(store.kind, "cookie");
    assert.equal(doc.jar.size, 0, "the probe is gone at once");
    store.save("tok-2", [{ cid: "c1", text: "not kept in a cookie" }], 7);
    const line = doc.writes.at(-1);
    // The token and the last agent message seen (the launcher's unread badge counts from it).
    assert.match(line, /^helao_visitor=tok-2\.7; Path=\/widget\/panel\/; Secure; SameSite=None; Partitioned; Max-Age=100$/);
    assert.deepEqual(createStore({ ...OPTIONS, win, doc }).load(), { token: "tok-2", outbox: [], seen: 7 });
    store.save(null, []);
    assert.equal(doc.jar.size, 0);
    assert.equal(store.load(), null);
  });

  it("says when the browser allows the frame nothing at all", () => {
    const doc = fakeDocument({ cookies: "none" });
    const store = createStore({ ...OPTIONS, win: fakeWindow({ storage: false }), doc });
    assert.equal(store.kind, null);
    store.save("tok-3", []);
    assert.equal(store.load(), null);
  });

  it("treats an unreadable saved value as nothing saved", () => {
    const win = fakeWindow();
    win.localStorage.setItem("helao-chat", "{not json");
    assert.equal(createStore({ ...OPTIONS, win, doc: fakeDocument() }).load(), null);
  });
});
