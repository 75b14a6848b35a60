import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // mockIPC installs itself on window.__TAURI_INTERNALS__.
    environment: "happy-dom",
    include: ["guest-js/**/*.test.ts"],
    exclude: ["node_modules/**", "dist-js/**"],
  },
});
