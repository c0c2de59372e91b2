// The console's routing module (static/console/routing.js): offers shown to the right agent,
// the offer's buttons, and the transfer frame for a colleague or a topic.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createRouting, offerSecondsLeft } from "../../static/console/routing.js";

// A stand-in for console.js's `el`: plain objects that keep what would be rendered.
const el = (tag, props = {}, ...children) => ({ tag, props, children: children.filter(Boolean) });
const T = { topic: "Topic", offered_to_you: "Offered to you", offered_elsewhere: "Offered to a colleague", accept: "Accept", pass: "Pass", transfer_topics: "Topics", offer_left: "Passes on in %s s", offer_say_left: "%s seconds left to accept the offer" };

function setup({ now = () => 0 } = {}) {
  const sent = [];
  const alerts = [];
  const announced = [];
  const said = [];
  let renders = 0;
  const state = { me: { id: 7 }, queue: new Map([[1, { id: 1, reference: "AAAAA-BBBBB", topic_id: 2 }]]) };
  globalThis.document = { documentElement: { lang: "fi" } };
  const routing = createRouting({
    state,
    T,
    el,
    send: (f) => sent.push(f),
    announce: (t) => announced.push(t),
    say: (t) => said.push(t),
    alert: (i) => alerts.push(i),
    rerender: () => renders++,
    clock: now,
  });
  routing.welcome({ topics: [{ id: 2, slug: "payments", names: { fi: "Maksut", en: "Payments" } }, { id: 3, slug: "general", names: { fi: "Yleinen", en: "General" } }] });
  return { routing, state, sent, alerts, announced, said, renders: () => renders };
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

describe("the offer's countdown", () => {
  const made = Date.parse("2026-12-07T10:00:00Z");
  const expires = "2026-12-07T10:00:30+00:00";

  it("counts whole seconds down to zero, and knows no time it cannot read", () => {
    assert.equal(offerSecondsLeft(expires, made), 30);
    assert.equal(offerSecondsLeft(expires, made + 29_001), 1);
    assert.equal(offerSecondsLeft(expires, made + 31_000), 0);
    assert.equal(offerSecondsLeft(null, made), null);
    assert.equal(offerSecondsLeft("soon", made), null);
  });

  it("shows the offered agent the seconds left and says it once, politely, near the end", () => {
    let now = made;
    const { routing, state, announced, said } = setup({ now: () => now });
    routing.handlers["conversation.offered"]({ conversation_id: 1, agent_id: 7, expires_at: expires });
    assert.deepEqual(announced, ["Offered to you. Passes on in 30 s"]);
    const [, offer] = routing.queueExtras(state.queue.get(1), () => {});
    const count = offer.children[1];
    assert.equal(count.props.text, "Passes on in 30 s");
    assert.equal(count.props["data-expires"], expires);
    assert.equal(count.props["aria-live"], undefined, "not read out on every tick");
    for (now = made; now <= made + 19_000; now += 1000) routing.tick();
    assert.deepEqual(said, []);
    for (; now <= made + 30_000; now += 1000) routing.tick();
    assert.deepEqual(said, ["10 seconds left to accept the offer"]);
    assert.equal(routing.leftText(expires), "Passes on in 0 s");
  });

  it("says nothing to a colleague, and a new offer counts again", () => {
    const now = made + 25_000;
    const { routing, state, said } = setup({ now: () => now });
    routing.handlers["conversation.offered"]({ conversation_id: 1, agent_id: 9, expires_at: expires });
    routing.tick();
    assert.deepEqual(said, []);
    assert.equal(routing.queueExtras(state.queue.get(1), () => {})[1].props.text, "Offered to a colleague");
    routing.handlers["conversation.offer_passed"]({ conversation_id: 1, agent_id: 9 });
    assert.equal(state.queue.get(1).offer_expires_at, null);
    routing.handlers["conversation.offered"]({ conversation_id: 1, agent_id: 7, expires_at: expires });
    routing.tick();
    assert.deepEqual(said, ["5 seconds left to accept the offer"]);
    routing.tick();
    assert.equal(said.length, 1);
  });
});
