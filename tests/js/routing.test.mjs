// The console's routing module (static/console/routing.js): offers shown to the right agent,
// the offer's buttons, and the transfer frame for a colleague or a topic.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createRouting } from "../../static/console/routing.js";

// A stand-in for console.js's `el`: plain objects that keep what would be rendered.
const el = (tag, props = {}, ...children) => ({ tag, props, children: children.filter(Boolean) });
const T = { topic: "Topic", offered_to_you: "Offered to you", offered_elsewhere: "Offered to a colleague", accept: "Accept", pass: "Pass", transfer_topics: "Topics" };

function setup() {
  const sent = [];
  const alerts = [];
  let renders = 0;
  const state = { me: { id: 7 }, queue: new Map([[1, { id: 1, reference: "AAAAA-BBBBB", topic_id: 2 }]]) };
  globalThis.document = { documentElement: { lang: "fi" } };
  const routing = createRouting({ state, T, el, send: (f) => sent.push(f), announce: () => {}, alert: (i) => alerts.push(i), rerender: () => renders++ });
  routing.welcome({ topics: [{ id: 2, slug: "payments", names: { fi: "Maksut", en: "Payments" } }, { id: 3, slug: "general", names: { fi: "Yleinen", en: "General" } }] });
  return { routing, state, sent, alerts, renders: () => renders };
}

describe("offers", () => {
  it("alerts only the agent the chat is offered to and shows them accept and pass", () => {
    const { routing, state, sent, alerts } = setup();
    routing.handlers["conversation.offered"]({ conversation_id: 1, agent_id: 7 });
    assert.equal(alerts.length, 1);
    const taken = [];
    const [topic, offer] = routing.queueExtras(state.queue.get(1), (id) => taken.push(id));
    assert.equal(topic.props.text, "Topic: Maksut");
    const [, accept, pass] = offer.children;
    accept.props.onclick();
    pass.props.onclick();
    assert.deepEqual(taken, [1]);
    assert.deepEqual(sent, [{ type: "offer.decline", conversation_id: 1, ref: 1 }]);
  });

  it("shows a colleague's offer without buttons, and forgets it when it passes", () => {
    const { routing, state, alerts } = setup();
    routing.handlers["conversation.offered"]({ conversation_id: 1, agent_id: 9 });
    assert.equal(alerts.length, 0);
    const extras = routing.queueExtras(state.queue.get(1), () => {});
    assert.equal(extras[1].props.text, "Offered to a colleague");
    routing.handlers["conversation.offer_passed"]({ conversation_id: 1, agent_id: 9 });
    assert.equal(state.queue.get(1).offered_to_id, null);
  });
});

describe("transfer", () => {
  it("sends a colleague's id or a topic's id", () => {
    const { routing } = setup();
    assert.deepEqual(routing.transferFrame(5, "12"), { type: "conversation.transfer", conversation_id: 5, agent_id: 12 });
    assert.deepEqual(routing.transferFrame(5, "topic:3"), { type: "conversation.transfer", conversation_id: 5, topic_id: 3 });
    assert.equal(routing.transferFrame(5, ""), null);
    const [group] = routing.transferOptions();
    assert.deepEqual(group.children.map((o) => o.props.text), ["Maksut", "Yleinen"]);
  });
});
