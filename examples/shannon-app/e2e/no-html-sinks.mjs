// Checks that untrusted text (model output, tool results, event messages, file contents) cannot reach
// an HTML parser in the desktop example: the UI builds its DOM with el()/textContent only, so neither
// its sources (ui/) nor the bundle the window runs (dist/main.js: the UI, guest-js and @tauri-apps/api)
// may name an HTML sink, and the page has no inline script, event handler or style attribute (the CSP
// allows scripts and styles from the app's files only). Run from the repository root after
// `npm run build:app`, by scripts/e2e.sh.
import { readFileSync, readdirSync } from "node:fs";

const SINKS = /\b(innerHTML|outerHTML|insertAdjacentHTML|createContextualFragment|DOMParser|parseFromString|srcdoc|document\.write(ln)?)\b/;
const dir = "examples/shannon-app";
const files = [...readdirSync(`${dir}/ui`).filter((f) => f.endsWith(".ts")).map((f) => `${dir}/ui/${f}`), `${dir}/dist/main.js`];
let found = 0;
for (const file of files) {
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (SINKS.test(line)) {
        found++;
        console.error(`${file}:${i + 1}: an HTML sink: ${line.trim()}`);
      }
    });
}
const page = readFileSync(`${dir}/ui/index.html`, "utf8");
for (const [pattern, what] of [
  [/<script(?![^>]*\bsrc=)[^>]*>/i, "an inline script"],
  [/\son[a-z]+\s*=/i, "an inline event handler"],
  [/\sstyle\s*=/i, "a style attribute"],
]) {
  if (pattern.test(page)) {
    found++;
    console.error(`${dir}/ui/index.html: ${what}`);
  }
}
if (found) process.exit(1);
console.log(`no HTML sinks: ${files.length} scripts and the page checked`);
