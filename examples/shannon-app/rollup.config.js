// Bundles the example's UI (ui/main.ts on the guest-js package) into dist/, which the app embeds.
// Run from the repository root: `npm run build:app`.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import typescript from "@rollup/plugin-typescript";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

/**
 * Resolves the package name `tauri-plugin-shannon-api` to this repository's guest-js sources, and
 * `@tauri-apps/api/*` to its ES module files (the browser has no node_modules).
 */
const resolvePackages = {
  name: "resolve-packages",
  resolveId(id) {
    if (id === "tauri-plugin-shannon-api") return here("../../guest-js/index.ts");
    return id.startsWith("@tauri-apps/api") ? fileURLToPath(import.meta.resolve(id)) : null;
  },
};

/** Copies the page and its stylesheet next to the bundle. */
const staticFiles = {
  name: "static-files",
  buildStart() {
    for (const f of ["ui/index.html", "ui/style.css"]) this.addWatchFile(here(f));
  },
  generateBundle() {
    for (const f of ["index.html", "style.css"]) {
      this.emitFile({ type: "asset", fileName: f, source: readFileSync(here(`ui/${f}`), "utf8") });
    }
  },
};

/**
 * Rollup writes to a staging dir; only files whose content changed are copied into dist/, so an
 * unchanged UI does not make Cargo rebuild the app that embeds dist/ (it compares mtimes).
 */
const staging = here("../../node_modules/.cache/shannon-app-ui");
const syncDist = {
  name: "sync-dist",
  writeBundle() {
    const dist = here("dist");
    mkdirSync(dist, { recursive: true });
    const fresh = readdirSync(staging);
    for (const f of fresh) {
      const next = readFileSync(`${staging}/${f}`);
      let same = false;
      try {
        same = readFileSync(`${dist}/${f}`).equals(next);
      } catch {
        // not there yet
      }
      if (!same) copyFileSync(`${staging}/${f}`, `${dist}/${f}`);
    }
    for (const f of readdirSync(dist)) if (!fresh.includes(f)) rmSync(`${dist}/${f}`, { recursive: true });
  },
};

export default {
  input: here("ui/main.ts"),
  output: { dir: staging, format: "esm", entryFileNames: "main.js", sourcemap: false },
  plugins: [resolvePackages, typescript({ tsconfig: here("tsconfig.json"), outDir: staging }), staticFiles, syncDist],
};
