// Where the panel keeps the visitor's token, on the chat origin and out of the host page's reach
// (docs/protocol.md, "Where the token lives"). Nothing is written before a chat exists.
//
// - "local": localStorage, with the messages not yet acknowledged. Browsers that let the chat's
//   frame keep storage (third-party cookies allowed, or partitioned storage) give this.
// - "cookie": a partitioned cookie (CHIPS). Where storage in third-party frames is blocked, it is
//   still kept, keyed to the embedding site and readable only by the chat origin framed there.
// - null: neither. The chat lasts only while this page is open; the panel says so first.

const PROBE = "helao_probe";

export function createStore({ key, cookie, maxAge, path, win = globalThis.window, doc = globalThis.document }) {
  const attrs = `; Path=${path}; Secure; SameSite=None; Partitioned`;
  const setCookie = (name, value, age) => {
    doc.cookie = `${name}=${value}${attrs}; Max-Age=${age}`;
  };
  const readCookie = (name) => doc.cookie.match(new RegExp(`(?:^|; )${name}=([\\w.-]+)`))?.[1];

  function local() {
    try {
      return win.localStorage; // throws where the browser denies it to this frame
    } catch {
      return null;
    }
  }

  // Only asked when localStorage is denied: a cookie that is gone at once, so nothing stays
  // behind before the visitor writes.
  function cookieKept() {
    setCookie(PROBE, "1", 60);
    const kept = readCookie(PROBE) === "1";
    setCookie(PROBE, "", 0);
    return kept;
  }

  const kind = local() ? "local" : cookieKept() ? "cookie" : null;

  return {
    kind,
    // {token, outbox: [{cid, text}], seen} or null; `seen`: the last agent message the visitor
    // saw with the panel open (the launcher's unread badge counts those after it).
    load() {
      if (kind === "local") {
        try {
          const saved = JSON.parse(local().getItem(key) || "null");
          if (saved && typeof saved.token === "string") return saved;
        } catch {
          /* unreadable: as if nothing were saved */
        }
        return null;
      }
      const [token, seen] = ((kind === "cookie" && readCookie(cookie)) || "").split(".");
      return token ? { token, outbox: [], seen: Number(seen) || 0 } : null;
    },
    // `token` null: forget it.
    save(token, outbox, seen = 0) {
      if (kind === "local") {
        try {
          if (token) local().setItem(key, JSON.stringify({ token, outbox, seen }));
          else local().removeItem(key);
        } catch {
          /* full or revoked: the chat goes on in this page */
        }
      } else if (kind === "cookie") {
        setCookie(cookie, token ? `${token}.${seen}` : "", token ? maxAge : 0);
      }
    },
  };
}
