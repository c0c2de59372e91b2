/* helao-chat loader: sent to every page of every site, so explained in docs/protocol.md */
(function () {
  "use strict";
  var w = window, d = document, api = w.HelaoChat || {};
  var me = d.currentScript;
  if (api.v || !me) return;
  var origin = new URL(me.src).origin, KEY = "helaoChat";
  var T = { fi: "Avaa chat", sv: "Öppna chatten", en: "Open chat" };
  var lang = (me.dataset.lang || d.documentElement.lang || "fi").slice(0, 2).toLowerCase();
  var t = T[lang] || T[(lang = "en")];
  var context = api.context, frame, ready, open, timer, queue = [];
  try { context = JSON.parse(me.dataset.context) || context; } catch (e) {}

  function store(v) {
    try {
      var s = w.localStorage;
      if (v === void 0) return s.getItem(KEY);
      v ? s.setItem(KEY, v) : s.removeItem(KEY);
    } catch (e) {}
  }
  function page() { return { url: location.href, title: d.title, referrer: d.referrer }; }
  function post(m) { ready ? frame.contentWindow.postMessage(m, origin) : queue.push(m); }
  function mk(tag, cls) { tag = d.createElement(tag); tag.className = cls; return tag; }

  var box = d.createElement("div"), root = box.attachShadow({ mode: "open" });
  var sheet = new CSSStyleSheet();
  sheet.replaceSync(":host{all:initial}[hidden]{display:none!important}" +
    ".l,.f{position:fixed;right:20px;z-index:2147483647;border:0;box-shadow:0 2px 12px #0006}" +
    ".l{bottom:20px;width:56px;height:56px;border-radius:50%;background:#0a4d8c;color:#fff;cursor:pointer;padding:0}" +
    ".l:focus-visible{outline:3px solid #000;outline-offset:3px;box-shadow:0 0 0 3px #fff}" +
    ".l svg{width:28px;fill:currentColor}" +
    ".b{position:absolute;top:-4px;right:-4px;min-width:20px;border-radius:10px;background:#b00020;font:700 12px/20px sans-serif}" +
    ".f{bottom:88px;width:min(380px,100vw - 40px);height:min(600px,100vh - 108px);border-radius:12px;background:#fff}" +
    "@media (max-width:480px),(max-height:500px){.f{inset:0;width:100%;height:100%;border-radius:0}}");
  root.adoptedStyleSheets = [sheet];
  var btn = mk("button", "l"), badge = mk("span", "b");
  btn.type = "button";
  btn.setAttribute("aria-expanded", !1);
  btn.setAttribute("aria-label", t);
  badge.id = "u";
  badge.hidden = 1;
  var svg = d.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.appendChild(d.createElementNS(svg.namespaceURI, "path"))
    .setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  btn.append(svg, badge);
  root.appendChild(btn);

  function show(on, focus) {
    if (!frame) {
      frame = mk("iframe", "f");
      frame.title = "Chat";
      frame.allow = "clipboard-write";
      frame.src = origin + "/widget/panel/?lang=" + lang + "&o=" + location.origin;
      root.appendChild(frame);
      timer = setTimeout(function () { ready || box.remove(); }, 15000);
    }
    open = on;
    frame.hidden = !on;
    btn.setAttribute("aria-expanded", on);
    post({ type: on ? "open" : "close", focus: !!focus });
    store() && store(on ? "open" : "min");
    focus && (on ? frame : btn).focus();
  }

  btn.onclick = function () { show(!open, 1); };

  w.addEventListener("message", function (e) {
    var m = e.data || {};
    if (!frame || e.origin !== origin || e.source !== frame.contentWindow) return;
    if (m.type === "ready" && !ready) {
      clearTimeout(timer);
      ready = 1;
      post({ type: "init", page: page(), context: context, lang: lang, open: open, topic: me.dataset.topic || api.topic });
      while (queue.length) post(queue.shift());
    }
    if (m.type === "refused") console.error(m.text);
    if (m.type === "minimise") show(!1, 1);
    if (m.type === "unread") {
      badge.textContent = m.count > 9 ? "9+" : m.count;
      badge.hidden = !m.count;
      m.count ? btn.setAttribute("aria-describedby", "u") : btn.removeAttribute("aria-describedby");
    }
    if (m.type === "state") store(m.active ? (open ? "open" : "min") : null);
  });

  api.v = 1;
  api.setContext = function (data) { context = data; frame && post({ type: "context", data: data }); };
  api.open = function () { show(1, 1); };
  api.pageView = function () { frame && post({ type: "page", page: page() }); };
  w.HelaoChat = api;
  function start() {
    d.body.appendChild(box);
    var was = store();
    was && show(was === "open");
  }
  d.body ? start() : d.addEventListener("DOMContentLoaded", start);
})();
