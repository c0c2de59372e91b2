// The recovery codes page: the codes are shown only once, so a button prints them as they are.
const button = document.getElementById("print-codes");
if (button) button.addEventListener("click", () => window.print());
