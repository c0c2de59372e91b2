// The widget's topic picker: shown before a chat starts when the service lists two or more
// topics (the welcome frame's `topics`) and the host page named none. Not choosing is allowed:
// the chat then goes to the default topic. Names are set with textContent.
export function createTopicPicker(wrapper, select) {
  let offered = false;
  return {
    // `topics`: [{slug, name}] from the server; `hostTopic`: the topic the host page named.
    offer(topics, hostTopic) {
      offered = !hostTopic && Array.isArray(topics) && topics.length >= 2;
      while (select.options.length > 1) select.remove(1);
      if (offered) {
        for (const t of topics) {
          const option = document.createElement("option");
          option.value = String(t.slug);
          option.textContent = String(t.name);
          select.append(option);
        }
      }
    },
    // Only before a chat has started.
    show(beforeChat) {
      wrapper.hidden = !(offered && beforeChat);
    },
    value() {
      return offered && select.value ? select.value : null;
    },
  };
}
