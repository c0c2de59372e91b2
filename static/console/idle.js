// The console's sign-in ends after SESSION_IDLE_TIMEOUT_SECONDS without activity (agents/views.py,
// keepalive). WCAG 2.2.1 (timing adjustable): the agent is warned `warnSeconds` before, and one
// press of "Stay signed in" renews it. Activity renews it anyway; the warning then never shows.

export const WARN_SECONDS = 120;

/**
 * - `seconds`: the idle timeout; `box`: the warning (hidden until due); `stay`: its button.
 * - `renew()`: asks the server to renew the session; resolves true when it did.
 * - `clock`, `timers`, `doc`: stand-ins for tests.
 */
export function createIdleWarning(options) {
  const { seconds, box, stay, renew } = options;
  const warnSeconds = Math.min(options.warnSeconds ?? WARN_SECONDS, seconds / 2);
  const clock = options.clock ?? Date.now;
  const timers = options.timers ?? globalThis;
  const doc = options.doc ?? globalThis.document;
  let renewedAt = clock();
  let timer = null;
  let returnTo = null;

  function schedule() {
    timers.clearTimeout(timer);
    const due = renewedAt + (seconds - warnSeconds) * 1000 - clock();
    timer = timers.setTimeout(show, Math.max(0, due));
  }

  function show() {
    returnTo = doc.activeElement;
    box.hidden = false;
    stay.focus();
  }

  function hide() {
    if (box.hidden) return;
    box.hidden = true;
    // Back where the agent was, unless they have moved on.
    if (doc.activeElement === stay || doc.activeElement === doc.body) returnTo?.focus?.();
    returnTo = null;
  }

  stay.addEventListener("click", async () => {
    if (await renew()) renewed();
  });

  // The server renewed the session (a keepalive after activity, or the button).
  function renewed() {
    renewedAt = clock();
    hide();
    schedule();
  }

  schedule();
  return { renewed, get shown() { return !box.hidden; } };
}

// The sign-in also ends SESSION_ABSOLUTE_LIFETIME_SECONDS after it began, however busy the agent
// (agents/middleware.py). WCAG 2.2.1: the agent is told END_WARN_SECONDS before, with the time it
// ends, and offered a link that signs in again in another tab; the console stays as it is and
// carries on with the new sign-in (`renewed(secondsLeft)`). Focus is left where it is: the agent
// may be typing; `onShow(sentence)` announces the warning.
export const END_WARN_SECONDS = 300;

/**
 * - `secondsLeft`: until the sign-in ends (null: it does not end by age); `box`: the warning
 *   (hidden until due); `text`: its sentence; `format(endsAtMs)`: that sentence.
 * - `clock`, `timers`: stand-ins for tests.
 */
export function createSigninEndWarning(options) {
  const { box, text, format, onShow } = options;
  const clock = options.clock ?? Date.now;
  const timers = options.timers ?? globalThis;
  const warnSeconds = options.warnSeconds ?? END_WARN_SECONDS;
  let endsAt = null;
  let timer = null;

  function show() {
    text.textContent = format(endsAt);
    box.hidden = false;
    onShow?.(text.textContent);
  }

  // A new sign-in (or the first): its time left, counted on this browser's clock.
  function renewed(secondsLeft) {
    timers.clearTimeout(timer);
    box.hidden = true;
    if (typeof secondsLeft !== "number") return;
    endsAt = clock() + secondsLeft * 1000;
    timer = timers.setTimeout(show, Math.max(0, endsAt - warnSeconds * 1000 - clock()));
  }

  renewed(options.secondsLeft);
  return {
    renewed,
    get shown() {
      return !box.hidden;
    },
    get endsAt() {
      return endsAt;
    },
  };
}
