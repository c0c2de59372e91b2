// Internal notes and the wrap-up in the console (static/console/notes.js, wrapup.js): the frames
// they send and the summary of a saved wrap-up.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { outboxFrame } from "../../static/console/notes.js";
import { wrapUpFrame, wrapUpSummary } from "../../static/console/wrapup.js";

describe("outboxFrame", () => {
  it("sends a note as note.send and a message as message.send, with the id as ref", () => {
    const note = outboxFrame("n1", { conversation_id: 7, text: "for colleagues", kind: "note" });
    assert.deepEqual(note, { type: "note.send", client_msg_id: "n1", ref: "n1", conversation_id: 7, text: "for colleagues" });
    assert.equal(outboxFrame("m1", { conversation_id: 7, text: "hi", kind: "message" }).type, "message.send");
    // Items queued before notes existed have no kind: they are messages.
    assert.equal(outboxFrame("m2", { conversation_id: 7, text: "hi" }).type, "message.send");
  });
});

describe("wrapUpFrame", () => {
  const choice = { reason_id: 2, tag_ids: [3, 5] };
  it("goes with the close when the chat is being ended", () => {
    assert.deepEqual(wrapUpFrame(9, choice, { closing: true }), { type: "conversation.close", conversation_id: 9, wrap_up: choice });
  });
  it("goes on its own for a chat that has ended", () => {
    assert.deepEqual(wrapUpFrame(9, choice, { closing: false }), { type: "conversation.wrap_up", conversation_id: 9, reason_id: 2, tag_ids: [3, 5] });
  });
});

describe("wrapUpSummary", () => {
  const T = { wrap_up_reason: "Syy", wrap_up_tags: "Tunnisteet" };
  const lists = { reasons: [{ id: 2, name: "Vastattu" }], tags: [{ id: 3, name: "Maksut" }, { id: 5, name: "Kurssit" }] };
  it("names the reason and tags in the console's language", () => {
    assert.equal(wrapUpSummary({ reason_id: 2, tag_ids: [5, 3] }, lists, T), "Syy: Vastattu · Tunnisteet: Kurssit, Maksut");
  });
  it("shows a dash for what was not chosen and says nothing before a wrap-up", () => {
    assert.equal(wrapUpSummary({ reason_id: null, tag_ids: [] }, lists, T), "Syy: – · Tunnisteet: –");
    assert.equal(wrapUpSummary(undefined, lists, T), "");
  });
});
