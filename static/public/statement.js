// The statement's feedback form is sent without script; after it, focus goes to what happened
// (the thanks or the error), so that a keyboard or screen-reader user hears it at once.
const outcome = document.getElementById("feedback-error") || document.getElementById("feedback-sent");
outcome?.focus();
