// Internal notes: written by staff for staff in a chat, never sent to the visitor
// (docs/protocol.md, `note.send`). A note goes through the console's outbox like a message (the
// same resend after a lost connection, stored once per client id); console.js draws it in the
// log, marked as a note.

/** Wires the note form: Enter adds the note, Shift+Enter adds a line. `queue(text, kind)`
 * puts the text in the console's outbox and returns whether it did. */
export function setupNotes({ form, box, queue }) {
  const submit = () => {
    const text = box.value.trim();
    if (text && queue(text, "note")) box.value = "";
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
}

/** The frame that stores an outbox item: a message to the visitor, or an internal note. */
export function outboxFrame(id, item) {
  return {
    type: item.kind === "note" ? "note.send" : "message.send",
    client_msg_id: id,
    ref: id,
    conversation_id: item.conversation_id,
    text: item.text,
  };
}
