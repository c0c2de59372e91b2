// After "Sign in again" (the console's warning before the sign-in ends): tells the console's tab,
// through a same-origin broadcast, that the sign-in is new, how long it now lasts and whose it
// is; the console carries on with it (static/console/idle.js). The tab closes itself where the
// browser lets it; otherwise its text says it can be closed.
const cfg = JSON.parse(document.getElementById("renewed-config").textContent);
const channel = new BroadcastChannel("helao-signin");
channel.postMessage({ type: "renewed", secondsLeft: cfg.seconds_left, userId: cfg.user_id });
channel.close();
window.close();
