// Builds guest-js to ESM and CJS with type declarations, as Tauri's own plugins do. Two entries:
// the package itself and its `/react` subpath; react.js imports ./index.js, so both share one module
// (one resume storage, one set of types) instead of each bundling its own copy.
import { rmSync } from "node:fs";
import typescript from "@rollup/plugin-typescript";

// Files of an earlier build (a renamed module) must not ship in the next tarball.
rmSync("dist-js", { recursive: true, force: true });

export default {
  input: { index: "guest-js/index.ts", react: "guest-js/react.ts" },
  output: [
    { dir: "dist-js", format: "esm", entryFileNames: "[name].js", chunkFileNames: "[name]-[hash].js" },
    { dir: "dist-js", format: "cjs", entryFileNames: "[name].cjs", chunkFileNames: "[name]-[hash].cjs" },
  ],
  plugins: [
    typescript({
      declaration: true,
      declarationDir: "dist-js",
      exclude: ["guest-js/**/*.test.ts", "guest-js/testing/**"],
    }),
  ],
  external: [/^@tauri-apps\/api/, "react"],
};
