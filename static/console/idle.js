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
