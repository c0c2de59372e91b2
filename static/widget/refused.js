// The panel's place on a site outside CHAT_EMBED_ORIGINS (chat/views.py, _widget_refused).
// The loader keeps its launcher (this page answers "ready") and logs the reason in the console.
const cfg = JSON.parse(document.getElementById("helao-config").textContent);
// Posted to the site the loader named only: any other parent receives nothing.
const toHost = (msg) => parent.postMessage(msg, cfg.site);

toHost({ type: "ready" });
toHost({ type: "refused", text: cfg.console });
const button = document.getElementById("hc-min");
const minimise = () => toHost({ type: "minimise" });
button.addEventListener("click", minimise);
// Opened from the launcher by keyboard: focus comes into the panel, onto its one button.
window.addEventListener("message", (e) => {
  if (e.source === parent && e.origin === cfg.site && e.data?.type === "open" && e.data.focus) button.focus();
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") minimise();
});
