// eslint for the static ES modules (browser) and their unit tests (node --test). Formatting is
// left alone: the rules here catch mistakes, not style.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", "staticfiles/", "var/", ".venv/"] },
  js.configs.recommended,
  {
    files: ["static/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
    rules: {
      // Text from people is only ever set with textContent (docs: STYLE.md, practice 4).
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "Render text with textContent." },
        { property: "outerHTML", message: "Render text with textContent." },
        { property: "insertAdjacentHTML", message: "Render text with textContent." },
      ],
      "no-restricted-globals": ["error", { name: "eval", message: "No eval." }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
    },
  },
  {
    // The loader is a classic script on other sites' pages, written for old browsers too.
    files: ["static/widget/loader.js"],
    languageOptions: { sourceType: "script" },
    rules: { "no-var": "off", "no-empty": ["error", { allowEmptyCatch: true }] },
  },
  {
    files: ["tests/js/**/*.mjs", "eslint.config.mjs"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.node },
    rules: { "prefer-const": "error", "no-var": "error" },
  },
];
