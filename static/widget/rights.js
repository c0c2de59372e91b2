// The visitor's own rights, from the panel: a copy of the conversation, and its erasure.
// Loaded by panel.js the first time the visitor opens one of the two dialogs.
//
// Both are POSTs on the chat origin with the token in a JSON body, never in a URL; see
// dsr/visitor_views.py. The copy's files are made here from the answer, as links the visitor
// clicks in the dialog (a download that follows a click, not one a script starts).
// Dialogs are native <dialog>s opened with showModal(): focus stays inside them, Escape closes
// them, and focus goes back to the button that opened them.

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function stylesheet(href) {
  return new Promise((resolve) => {
    const link = el("link", { rel: "stylesheet", href });
    link.addEventListener("load", resolve);
    link.addEventListener("error", resolve);
    document.head.append(link);
  });
}

async function post(path, token) {
  const response = await fetch(new URL(path, import.meta.url), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "omit",
    cache: "no-store",
    body: JSON.stringify({ token }),
  });
  const data = await response.json().catch(() => ({}));
  if (response.ok) return data;
  throw new Error(response.status === 404 ? "gone" : response.status === 429 ? "limited" : "failed");
}

// `options`: `token()` (the conversation's token, or null), `erased()` (forget the
// conversation) and `focusFirst()`. The words come in the panel's language.
export async function createRights(options) {
  const lang = encodeURIComponent(document.documentElement.lang);
  const strings = new URL(`/widget/rights/strings/?lang=${lang}`, import.meta.url);
  const [S] = await Promise.all([
    fetch(strings, { credentials: "omit" }).then((r) => {
      if (!r.ok) throw new Error("strings");
      return r.json();
    }),
    stylesheet(new URL("rights.css", import.meta.url).href),
  ]);
  const failure = (err) =>
    err.message === "gone" ? S.gone : err.message === "limited" ? S.rightsLimited : S.rightsFailed;

  function dialog(id, title, ...content) {
    const node = el("dialog", { id, class: "dialog", "aria-labelledby": `${id}-title` });
    node.append(el("h2", { id: `${id}-title`, text: title }), ...content);
    // Escape closes the dialog (the browser does that), not the whole panel as elsewhere.
    node.addEventListener("keydown", (e) => e.key === "Escape" && e.stopPropagation());
    node.addEventListener("close", () => {
      const back = node.returnFocus;
      node.returnFocus = null;
      if (back && back.isConnected && !back.closest("[hidden]")) back.focus();
      else options.focusFirst();
    });
    document.body.append(node);
    return node;
  }

  // --- download: a readable text and the JSON of everything stored -------------------------
  const dlStatus = el("p", { role: "status" });
  const textLink = el("a", { id: "hc-dl-text", text: S.fileText });
  const jsonLink = el("a", { id: "hc-dl-json", text: S.fileJson });
  const files = el("ul", {}, el("li", {}, textLink), el("li", {}, jsonLink));
  const dlClose = el("button", { type: "button", class: "btn-quiet", text: S.close });
  const dl = dialog("hc-dl", S.download, dlStatus, files, dlClose);
  const urls = [];
  const resetFiles = () => {
    for (const url of urls.splice(0)) URL.revokeObjectURL(url);
    files.hidden = true;
  };
  dl.addEventListener("close", resetFiles);
  dlClose.addEventListener("click", () => dl.close());

  async function download(opener) {
    resetFiles();
    dlStatus.textContent = S.preparing;
    dl.returnFocus = opener;
    dl.showModal();
    dlClose.focus();
    try {
      const data = await post("/widget/conversation/export/", options.token());
      const links = { text: textLink, json: jsonLink };
      for (const file of data.files || []) {
        const link = links[file.format];
        if (!link) continue;
        const url = URL.createObjectURL(new Blob([file.content], { type: file.type }));
        urls.push(url);
        link.href = url;
        link.download = file.filename;
      }
      dlStatus.textContent = S.ready;
      files.hidden = false;
      if (dl.open) textLink.focus();
    } catch (err) {
      dlStatus.textContent = failure(err);
      if (err.message === "gone") options.erased();
    }
  }

  // --- delete: what goes, that it cannot be undone; the safe choice has focus ----------------
  const delText = el("p", { id: "hc-del-text", text: S.deleteText });
  const delStatus = el("p", { role: "status" });
  const yes = el("button", { type: "button", class: "btn btn-danger", text: S.deleteYes });
  const no = el("button", { type: "button", class: "btn-quiet", text: S.cancel });
  const del = dialog("hc-del", S.deleteTitle, delText, delStatus, el("div", { class: "actions" }, yes, no));
  del.setAttribute("aria-describedby", "hc-del-text");
  no.addEventListener("click", () => del.close());
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    delStatus.textContent = S.deleting;
    try {
      await post("/widget/conversation/erase/", options.token());
      del.returnFocus = null;
      options.erased();
    } catch (err) {
      delStatus.textContent = failure(err);
      yes.disabled = false;
      if (err.message === "gone") options.erased();
    }
  });

  function erase(opener) {
    delStatus.textContent = "";
    yes.disabled = false;
    del.returnFocus = opener;
    del.showModal();
    // Enter on a freshly opened dialog must not delete anything.
    no.focus();
  }

  // By the id of the panel's button that opens each.
  return { "hc-download": download, "hc-delete": erase };
}
