// The wrap-up of a chat: a reason and tags from the lists the service director keeps in admin.
// Chosen when the agent ends the chat (sent with `conversation.close`), or afterwards when the
// visitor ended it first (`conversation.wrap_up`). Without any lists, ending a chat only asks
// for confirmation, as before.

/** The frame that stores the choices: with the close, or on its own for an ended chat. */
export function wrapUpFrame(conversationId, choice, { closing }) {
  if (closing) return { type: "conversation.close", conversation_id: conversationId, wrap_up: choice };
  return { type: "conversation.wrap_up", conversation_id: conversationId, ...choice };
}

/** A short line that tells a chat's saved wrap-up, in the console's words and names. */
export function wrapUpSummary(wrapUp, lists, T) {
  if (!wrapUp) return "";
  const name = (items, id) => items.find((i) => i.id === id)?.name;
  const reason = name(lists.reasons, wrapUp.reason_id) || "–";
  const tags = wrapUp.tag_ids.map((id) => name(lists.tags, id)).filter(Boolean);
  return `${T.wrap_up_reason}: ${reason} · ${T.wrap_up_tags}: ${tags.join(", ") || "–"}`;
}

/** The dialog: `open(chat, {closing})` shows it for one chat; `send(frame)` sends its answer. */
export function createWrapUp({ dialog, T, el, send }) {
  const form = dialog.querySelector("form");
  const reasons = dialog.querySelector("#wrap-up-reasons");
  const tags = dialog.querySelector("#wrap-up-tags");
  const error = dialog.querySelector("#wrap-up-error");
  let lists = { tags: [], reasons: [] };
  let target = null;

  const choice = (name, type, item, checked) =>
    el("label", { class: "choice" }, el("input", { type, name, value: String(item.id), checked }), ` ${item.name}`);

  function fill(legendOf, items, name, type, chosen) {
    const legend = legendOf.querySelector("legend");
    legendOf.replaceChildren(legend, ...items.map((item) => choice(name, type, item, chosen(item.id))));
    legendOf.hidden = !items.length;
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!target) return;
    const picked = form.querySelector("input[name=reason]:checked");
    if (lists.reasons.length && !picked) {
      error.textContent = T.wrap_up_reason_required;
      form.querySelector("input[name=reason]").focus();
      return;
    }
    const tagIds = [...form.querySelectorAll("input[name=tag]:checked")].map((i) => Number(i.value));
    const frame = wrapUpFrame(target.id, { reason_id: picked ? Number(picked.value) : null, tag_ids: tagIds }, target);
    if (send(frame)) dialog.close();
    else error.textContent = T.wrap_up_offline;
  });
  dialog.querySelector("#wrap-up-cancel").addEventListener("click", () => dialog.close());
  // The close event comes a task after the dialog closed: if the agent has opened it again for
  // a chat in the meantime (Escape, then Alt+E at once), that late event must not forget the chat.
  dialog.addEventListener("close", () => {
    if (!dialog.open) target = null;
  });

  return {
    setLists(next) {
      lists = { tags: next?.tags || [], reasons: next?.reasons || [] };
    },
    get lists() {
      return lists;
    },
    available: () => lists.tags.length + lists.reasons.length > 0,
    open(chat, { closing }) {
      target = { id: chat.conv.id, closing };
      const saved = chat.wrapUp || { reason_id: null, tag_ids: [] };
      fill(reasons, lists.reasons, "reason", "radio", (id) => id === saved.reason_id);
      fill(tags, lists.tags, "tag", "checkbox", (id) => saved.tag_ids.includes(id));
      error.textContent = "";
      dialog.querySelector("#wrap-up-h").textContent = closing ? T.wrap_up_end_title : T.wrap_up_title;
      dialog.querySelector("#wrap-up-submit").textContent = closing ? T.end_chat : T.wrap_up_save;
      dialog.showModal();
      (form.querySelector("input") || dialog.querySelector("#wrap-up-submit")).focus();
    },
  };
}
