// Builds guest-js to ESM and CJS with type declarations, as Tauri's own plugins do.
import typescript from "@rollup/plugin-typescript";

export default {
  input: "guest-js/index.ts",
  output: [
    { file: "dist-js/index.js", format: "esm" },
    { file: "dist-js/index.cjs", format: "cjs" },
  ],
  plugins: [
    typescript({
      declaration: true,
      declarationDir: "dist-js",
      exclude: ["guest-js/**/*.test.ts"],
    }),
  ],
  external: [/^@tauri-apps\/api/],
};
