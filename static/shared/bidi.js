// Bidirectional text (the rules are in chat/bidi.py): text from people is isolated wherever it is
// shown next to the product's own words, so a right-to-left name or an override character in it
// cannot reorder those words. Built with DOM nodes only, never HTML.

// LRE RLE PDF LRO RLO, LRI RLI FSI PDI, LRM RLM, ALM: the same set as chat/bidi.py.
const CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

// `text` in a <bdi>: its direction comes from its own first strong character, and nothing in it
// reaches the text around it.
export function isolated(text, className = "") {
  const node = document.createElement("bdi");
  if (className) node.className = className;
  node.textContent = text;
  return node;
}

// The nodes of a sentence such as "{name} joined the chat" with the name isolated.
export function withName(template, name, slot = "{name}") {
  const at = template.indexOf(slot);
  if (at < 0) return [template];
  return [template.slice(0, at), isolated(name), template.slice(at + slot.length)].filter((n) => n !== "");
}

// A visitor's text for an agent's eyes: the characters are kept, but every bidi control is
// shown as a visible marker such as "⟨U+202E⟩" instead of silently reordering the message.
export function withVisibleControls(text, title = "") {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(CONTROLS)) {
    if (match.index > last) nodes.push(text.slice(last, match.index));
    const mark = document.createElement("span");
    mark.className = "bidi-mark";
    mark.textContent = `⟨U+${match[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}⟩`;
    if (title) mark.title = title;
    nodes.push(mark);
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}
