// Quick feedback after a chat ends: two one-click questions, an optional comment, a thank-you.
// renderFeedback(container, {token, reference, lang, onDone}); onDone({sent}) when finished.
const STRINGS = {
  en: {
    title: "Feedback",
    service: "Were you satisfied with the service you received?",
    channel: "Was chat a good way to get service?",
    yes: "Yes", no: "No", skip: "Skip",
    comment: "Comment (optional)",
    hint: "At most 500 characters. Please do not write personal details.",
    send: "Send", sending: "Sending…",
    thanks: "Thank you for your feedback!",
    failed: "Sending the feedback failed.", retry: "Try again",
    already_answered: "Feedback for this chat has already been given.",
    expired: "It is too late to give feedback on this chat.",
    markup: "The comment may not contain HTML or code.",
    too_long: "The comment is too long.",
  },
  fi: {
    title: "Palaute",
    service: "Olitko tyytyväinen saamaasi palveluun?",
    channel: "Oliko chat hyvä tapa saada palvelua?",
    yes: "Kyllä", no: "Ei", skip: "Ohita",
    comment: "Kommentti (vapaaehtoinen)",
    hint: "Enintään 500 merkkiä. Älä kirjoita henkilötietoja.",
    send: "Lähetä", sending: "Lähetetään…",
    thanks: "Kiitos palautteestasi!",
    failed: "Palautteen lähettäminen epäonnistui.", retry: "Yritä uudelleen",
    already_answered: "Tästä keskustelusta on jo annettu palaute.",
    expired: "Tästä keskustelusta ei voi enää antaa palautetta.",
    markup: "Kommentissa ei voi olla HTML:ää tai koodia.",
    too_long: "Kommentti on liian pitkä.",
  },
  sv: {
    title: "Respons",
    service: "Var du nöjd med den service du fick?",
    channel: "Var chatten ett bra sätt att få service?",
    yes: "Ja", no: "Nej", skip: "Hoppa över",
    comment: "Kommentar (frivillig)",
    hint: "Högst 500 tecken. Skriv inga personuppgifter.",
    send: "Skicka", sending: "Skickar…",
    thanks: "Tack för din respons!",
    failed: "Det gick inte att skicka responsen.", retry: "Försök igen",
    already_answered: "Respons för den här chatten har redan getts.",
    expired: "Det är för sent att ge respons på den här chatten.",
    markup: "Kommentaren får inte innehålla HTML eller kod.",
    too_long: "Kommentaren är för lång.",
  },
};
const MAX_COMMENT = 500;
// Refusals that no retry or other answer can change.
const FINAL = new Set(["already_answered", "expired", "not_closed", "bad_token"]);
const SUBMIT_URL = new URL("/feedback/submit", import.meta.url);
let serial = 0;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key in node && !key.includes("-")) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function loadStyles() {
  const href = new URL("./feedback.css", import.meta.url).href;
  if (![...document.querySelectorAll("link[rel=stylesheet]")].some((l) => l.href === href)) {
    document.head.append(el("link", { rel: "stylesheet", href }));
  }
}

export function renderFeedback(container, { token, reference = "", lang = "en", onDone } = {}) {
  const t = STRINGS[String(lang).slice(0, 2).toLowerCase()] || STRINGS.en;
  const id = `hc-feedback-${++serial}`;
  const answers = { service_satisfied: null, channel_satisfied: null };
  const status = el("p", { className: "hc-feedback-status", role: "status" });
  const body = el("div");
  const root = el(
    "section",
    { className: "hc-feedback", "aria-labelledby": `${id}-title`, "data-reference": reference },
    el("h2", { id: `${id}-title`, text: t.title }),
    body,
    status,
  );
  loadStyles();
  container.replaceChildren(root);

  let finished = false;
  const finish = (sent) => {
    if (finished) return;
    finished = true;
    if (typeof onDone === "function") onDone({ sent });
  };

  function show(...nodes) {
    body.replaceChildren(...nodes);
  }

  // Each answer is saved the moment it is given (a visitor may leave at any step); the requests
  // go one after another, and an answer whose request failed rides along with the next one.
  const pending = {};
  let saved = false;
  let refused = null; // why an earlier answer was refused for good, if it was
  let chain = Promise.resolve();

  async function post(fields) {
    try {
      const response = await fetch(SUBMIT_URL, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "omit",
        cache: "no-store",
        body: JSON.stringify({ token, ...fields }),
      });
      const data = await response.json().catch(() => ({}));
      return response.ok && data.ok ? null : data.error || "failed";
    } catch {
      return "failed";
    }
  }

  function save(extra = {}) {
    const run = async () => {
      const fields = { ...pending, ...extra };
      if (!Object.keys(fields).length) return saved ? null : refused;
      const code = await post(fields);
      if (code === null) saved = true;
      else if (FINAL.has(code)) refused = code;
      // Sent, or refused for the whole chat: either way not to be sent again. Only what this
      // request carried: an answer given while it was under way waits for its own request.
      if (code === null || FINAL.has(code)) {
        for (const key of Object.keys(fields)) if (pending[key] === fields[key]) delete pending[key];
      }
      return code;
    };
    const result = chain.then(run);
    chain = result.catch(() => null);
    return result;
  }

  function question(key, text, next) {
    const fieldset = el("fieldset", { className: "hc-feedback-question" }, el("legend", { text }));
    const choose = (value) => {
      answers[key] = value;
      if (value !== null) {
        pending[key] = value;
        save();
      }
      next();
    };
    const yes = el("button", { type: "button", className: "hc-yes", text: t.yes });
    const no = el("button", { type: "button", className: "hc-no", text: t.no });
    const skip = el("button", { type: "button", className: "hc-skip", text: t.skip });
    yes.addEventListener("click", () => choose(true));
    no.addEventListener("click", () => choose(false));
    skip.addEventListener("click", () => choose(null));
    fieldset.append(el("div", { className: "hc-feedback-buttons" }, yes, no, skip));
    show(fieldset);
    yes.focus();
  }

  function commentStep(prefill = "") {
    const area = el("textarea", {
      id: `${id}-comment`, maxLength: MAX_COMMENT, rows: 3, "aria-describedby": `${id}-hint`,
    });
    area.value = prefill;
    const send = el("button", { type: "button", className: "hc-send", text: t.send });
    const skip = el("button", { type: "button", className: "hc-skip", text: t.skip });
    send.addEventListener("click", () => submit(area.value.trim(), [send, skip, area]));
    skip.addEventListener("click", () => submit("", [send, skip, area]));
    show(
      el("label", { htmlFor: `${id}-comment`, text: t.comment }),
      area,
      el("p", { id: `${id}-hint`, className: "hc-feedback-hint", text: t.hint }),
      el("div", { className: "hc-feedback-buttons" }, send, skip),
    );
    area.focus();
  }

  function thanks(text) {
    const message = el("p", { className: "hc-feedback-thanks", tabIndex: -1, text });
    show(message);
    status.textContent = "";
    message.focus();
  }

  async function submit(comment, controls) {
    if (answers.service_satisfied === null && answers.channel_satisfied === null && !comment) {
      // Skipping everything stores nothing, so there is nothing to send.
      root.remove();
      finish(false);
      return;
    }
    for (const c of controls) c.disabled = true;
    status.textContent = t.sending;
    const code = await save(comment ? { comment } : {});
    if (code === null) {
      thanks(t.thanks);
      finish(true);
      return;
    }
    if (FINAL.has(code)) {
      thanks(t[code] || t.failed);
      finish(saved);
      return;
    }
    for (const c of controls) c.disabled = false;
    status.textContent = t[code] || t.failed;
    if (code === "failed") controls[0].textContent = t.retry;
    (code === "markup" || code === "too_long" ? controls[2] : controls[0]).focus();
  }

  question("service_satisfied", t.service, () =>
    question("channel_satisfied", t.channel, () => commentStep()),
  );
  return root;
}
