// The console's idle warning (static/console/idle.js) with node's mock timers and stand-in nodes.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";

import { createIdleWarning, createSigninEndWarning } from "../../static/console/idle.js";

function fakeNode(doc) {
  const listeners = {};
  const node = {
    hidden: true,
    addEventListener: (kind, fn) => (listeners[kind] = fn),
    click: () => listeners.click?.(),
    focus: () => (doc.activeElement = node),
  };
  return node;
}

function setup({ renewWorks = true } = {}) {
  const doc = { body: {}, activeElement: null };
  const box = fakeNode(doc);
  const stay = fakeNode(doc);
  const composer = fakeNode(doc);
  composer.focus();
  let renewals = 0;
  const idle = createIdleWarning({
    seconds: 600,
    box,
    stay,
    renew: async () => {
      renewals += 1;
      return renewWorks;
    },
    clock: () => Date.now(),
    doc,
  });
  return { idle, box, stay, composer, doc, renewals: () => renewals };
}

describe("createIdleWarning", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"] }));
  afterEach(() => mock.timers.reset());

  it("warns two minutes before the sign-in would end, with focus on its button", () => {
    const { box, stay, doc } = setup();
    mock.timers.tick(479_000);
    assert.equal(box.hidden, true);
    mock.timers.tick(1_000);
    assert.equal(box.hidden, false);
    assert.equal(doc.activeElement, stay);
  });

  it("never warns while activity keeps renewing the session", () => {
    const { idle, box } = setup();
    for (let i = 0; i < 10; i++) {
      mock.timers.tick(300_000);
      idle.renewed();
    }
    assert.equal(box.hidden, true);
  });

  it("one press renews it, hides the warning and returns focus", async () => {
    const { box, stay, composer, doc, renewals } = setup();
    mock.timers.tick(480_000);
    stay.click();
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(renewals(), 1);
    assert.equal(box.hidden, true);
    assert.equal(doc.activeElement, composer);
    mock.timers.tick(479_000);
    assert.equal(box.hidden, true, "the next warning is a full period later");
    mock.timers.tick(1_000);
    assert.equal(box.hidden, false);
  });

  it("keeps the warning when the server did not renew the session", async () => {
    const { box, stay } = setup({ renewWorks: false });
    mock.timers.tick(480_000);
    stay.click();
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(box.hidden, false);
  });
});

describe("createSigninEndWarning", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  function setup(secondsLeft) {
    const box = { hidden: true };
    const text = { textContent: "" };
    const said = [];
    const warning = createSigninEndWarning({
      secondsLeft,
      box,
      text,
      format: (endsAt) => `ends at ${endsAt}`,
      onShow: (sentence) => said.push(sentence),
      clock: () => Date.now(),
    });
    return { warning, box, text, said };
  }

  it("says five minutes before the end when the sign-in ends, once", () => {
    const { box, text, said } = setup(3600);
    mock.timers.tick(3_299_000);
    assert.equal(box.hidden, true);
    mock.timers.tick(1_000);
    assert.equal(box.hidden, false);
    assert.equal(text.textContent, `ends at ${1_000_000 + 3_600_000}`);
    assert.deepEqual(said, [text.textContent]);
  });

  it("warns at once when less than five minutes are left", () => {
    const { box } = setup(60);
    mock.timers.tick(0);
    assert.equal(box.hidden, false);
  });

  it("a new sign-in hides the warning and counts its own time", () => {
    const { warning, box } = setup(3600);
    mock.timers.tick(3_300_000);
    assert.equal(box.hidden, false);
    warning.renewed(3600);
    assert.equal(box.hidden, true);
    mock.timers.tick(3_299_000);
    assert.equal(box.hidden, true, "the old end passes without a warning");
    mock.timers.tick(1_000);
    assert.equal(box.hidden, false);
  });

  it("never warns for a sign-in that does not end by age", () => {
    const { box } = setup(null);
    mock.timers.tick(100_000_000);
    assert.equal(box.hidden, true);
  });
});
