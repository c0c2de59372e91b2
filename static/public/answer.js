// The page the answer notice's one-time link opens (chat/answer_views.py). The link's token is in
// the fragment, which no server sees; a click spends it for a visitor token of this browser's
// own, kept where the chat page's widget looks for it (first-party storage of the chat origin),
// and the chat page opens with the panel open.
const $ = (id) => document.getElementById(id);
const linkToken = decodeURIComponent(location.hash.slice(1));
const chatUrl = document.querySelector("main").dataset.chatUrl;

function show(id) {
  for (const part of ["answer-ready", "answer-gone", "answer-failed"]) $(part).hidden = part !== id;
  if (id !== "answer-ready") $(id).focus();
}

function forget() {
  // A spent token opens nothing, but it need not stay in the address bar or the history.
  history.replaceState(null, "", location.pathname + location.search);
}

function storage() {
  try {
    return window.localStorage; // throws where the browser denies storage to this page
  } catch {
    return null;
  }
}

async function open() {
  // Without storage the token would be spent for nothing: the link is kept for another browser.
  const store = storage();
  if (!store) {
    show("answer-failed");
    return;
  }
  $("answer-open").disabled = true;
  let response;
  try {
    response = await fetch("open/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: linkToken }),
      credentials: "omit",
    });
  } catch {
    $("answer-open").disabled = false;
    show("answer-failed");
    return;
  }
  if (response.status === 404) {
    forget();
    show("answer-gone");
    return;
  }
  const data = response.ok ? await response.json() : null;
  if (!data?.token) {
    $("answer-open").disabled = false;
    show("answer-failed");
    return;
  }
  forget();
  // The panel's saved chat (static/widget/storage.js) and the loader's "reopen" mark.
  store.setItem("helao-chat", JSON.stringify({ token: data.token, outbox: [], seen: 0 }));
  store.setItem("helaoChat", "open");
  location.replace(chatUrl);
}

if (!linkToken) show("answer-gone");
else $("answer-open").addEventListener("click", open);
