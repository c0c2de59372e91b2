// Routing in the console: topics, offers made to this agent (accept or pass) and transfers to a
// topic. console.js owns the state and the rendering; this module adds its frame handlers and
// the pieces it draws into the queue and the transfer form.

// An offer passes on to the next agent CHAT_OFFER_TIMEOUT_SECONDS after it was made (the queue
// item's `offer_expires_at`, the event's `expires_at`). The agent it is offered to sees the
// seconds left; the count itself is not a live region (it would be read out every second): the
// offer is announced when made, with its time, and once more politely OFFER_SAY_AT seconds before
// it passes on.
export const OFFER_SAY_AT = 10;

export function offerSecondsLeft(expiresAt, now = Date.now()) {
  const at = Date.parse(expiresAt);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

export function createRouting({ state, T, el, send, announce, say, alert, rerender, clock = Date.now }) {
  const topics = new Map(); // id -> {id, slug, names}
  const warned = new Set(); // offers to this agent already said to be about to pass on
  const fmt = (text, value) => text.replace("%s", value);

  function leftText(expiresAt) {
    const left = offerSecondsLeft(expiresAt, clock());
    return left === null ? "" : fmt(T.offer_left, left);
  }

  function topicName(id) {
    const t = topics.get(id);
    if (!t) return "";
    return t.names[document.documentElement.lang] || t.names.en || t.slug;
  }

  function offeredToMe(q) {
    return q.offered_to_id === state.me.id;
  }

  const handlers = {
    "conversation.offered"(ev) {
      const item = state.queue.get(ev.conversation_id);
      if (item) {
        item.offered_to_id = ev.agent_id;
        item.offer_expires_at = ev.expires_at;
      }
      warned.delete(ev.conversation_id);
      if (ev.agent_id === state.me.id) {
        const left = leftText(ev.expires_at);
        announce(left ? `${T.offered_to_you}. ${left}` : T.offered_to_you);
        if (item) alert(item);
      }
      rerender();
    },
    "conversation.offer_passed"(ev) {
      const item = state.queue.get(ev.conversation_id);
      if (item && item.offered_to_id === ev.agent_id) {
        item.offered_to_id = null;
        item.offer_expires_at = null;
      }
      warned.delete(ev.conversation_id);
      rerender();
    },
  };

  return {
    handlers,
    topicName,
    leftText,
    // Every second: the polite word shortly before an offer to this agent passes on (once per
    // offer). console.js redraws the counts themselves (`leftText`).
    tick() {
      for (const q of state.queue.values()) {
        if (!offeredToMe(q) || !q.offer_expires_at || warned.has(q.id)) continue;
        const left = offerSecondsLeft(q.offer_expires_at, clock());
        if (left !== null && left > 0 && left <= OFFER_SAY_AT) {
          warned.add(q.id);
          say(fmt(T.offer_say_left, left));
        }
      }
    },
    welcome(ev) {
      topics.clear();
      for (const t of ev.topics || []) topics.set(t.id, t);
    },
    // The queue item's topic and, when offered to this agent, the offer's buttons.
    queueExtras(q, take) {
      const parts = [];
      if (topics.size > 1 && q.topic_id) parts.push(el("span", { class: "topic small", text: `${T.topic}: ${topicName(q.topic_id)}` }));
      if (offeredToMe(q)) {
        parts.push(
          el(
            "div",
            { class: "offer", role: "group", "aria-label": `${T.offered_to_you}: ${q.reference}` },
            el("strong", { text: T.offered_to_you }),
            q.offer_expires_at && el("span", { class: "offer-left small", "data-expires": q.offer_expires_at, text: leftText(q.offer_expires_at) }),
            el("button", { type: "button", class: "primary", text: T.accept, onclick: () => take(q.id) }),
            el("button", { type: "button", text: T.pass, onclick: () => send({ type: "offer.decline", conversation_id: q.id, ref: q.id }) }),
          ),
        );
      } else if (q.offered_to_id) {
        parts.push(el("span", { class: "muted small", text: T.offered_elsewhere }));
      }
      return parts;
    },
    // Topics below colleagues in the transfer list, as "topic:<id>" (with only the default
    // topic: back to the queue).
    transferOptions() {
      if (!topics.size) return [];
      return [el("optgroup", { label: T.transfer_topics }, ...[...topics.values()].map((t) => el("option", { value: `topic:${t.id}`, text: topicName(t.id) })))];
    },
    transferFrame(conversationId, value) {
      if (value.startsWith("topic:")) return { type: "conversation.transfer", conversation_id: conversationId, topic_id: Number(value.slice(6)) };
      const to = Number(value);
      return to ? { type: "conversation.transfer", conversation_id: conversationId, agent_id: to } : null;
    },
  };
}
