// Checks that the README's "Embedding in your Tauri app" lines are the example's own: every code line
// of that section (comments, blank lines and imports aside) appears verbatim in the file its block
// names in its first comment line, relative to examples/shannon-app/.
import { readFileSync } from "node:fs";

const readme = readFileSync("README.md", "utf8");
const start = readme.indexOf("## Embedding in your Tauri app");
if (start < 0) throw new Error("README.md has no 'Embedding in your Tauri app' section");
// The section ends at the next heading (## or ###).
const end = readme.slice(start + 1).search(/\n###? /) + start + 1;
const section = readme.slice(start, end <= start ? undefined : end);
const blocks = [...section.matchAll(/```\w*\n([\s\S]*?)```/g)].map((m) => m[1].split("\n"));
if (blocks.length < 4) throw new Error(`expected 4 code blocks, found ${blocks.length}`);
let missing = 0;
let checked = 0;
for (const [header, ...lines] of blocks) {
  const file = `examples/shannon-app/${header.replace(/^(\/\/|#)\s*/, "").split(/[\s,:]/)[0]}`;
  const text = readFileSync(file, "utf8");
  for (const line of lines.map((l) => l.trim())) {
    if (!line || line.startsWith("//") || line.startsWith("#") || line.startsWith("import ")) continue;
    checked++;
    if (!text.includes(line)) {
      missing++;
      console.error(`README line not in ${file}: ${line}`);
    }
  }
}
if (missing) process.exit(1);
console.log(`README embedding lines: ${checked} lines found in the example`);
