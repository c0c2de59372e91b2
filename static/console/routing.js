// Routing in the console: topics, offers made to this agent (accept or pass) and transfers to a
// topic. console.js owns the state and the rendering; this module adds its frame handlers and
// the pieces it draws into the queue and the transfer form.

export function createRouting({ state, T, el, send, announce, alert, rerender }) {
  const topics = new Map(); // id -> {id, slug, names}

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
      if (item) item.offered_to_id = ev.agent_id;
      if (ev.agent_id === state.me.id) {
        announce(T.offered_to_you);
        if (item) alert(item);
      }
      rerender();
    },
    "conversation.offer_passed"(ev) {
      const item = state.queue.get(ev.conversation_id);
      if (item && item.offered_to_id === ev.agent_id) item.offered_to_id = null;
      rerender();
    },
  };

  return {
    handlers,
    topicName,
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
