// The project's fake Shannon cloud (examples/fake_cloud.rs, built by scripts/e2e.sh) as a child
// process, for the e2e's remote-mode step: its URL, a way to take it away for a while, and a stop.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** `fake_cloud::TEST_KEY`, the key the fake accepts by default. */
export const CLOUD_KEY = "sk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/** What every task on the fake answers: long enough to split into 40 deltas. */
export const CLOUD_ANSWER =
  "The fake Shannon cloud answered this question remotely, a few letters at a time, and kept going while the app could not reach it.";

/**
 * Starts the fake on a free loopback port. Its tasks stream slowly (40 deltas, 300 ms apart: about
 * 14 s), so a test can take the cloud away mid-answer and watch the answer finish after it is back.
 */
export async function startFakeCloud(bin) {
  if (!bin) throw new Error("FAKE_CLOUD is not set (scripts/e2e.sh builds examples/fake_cloud.rs)");
  const child = spawn(bin, ["--deltas", "40", "--event-delay-ms", "300", "--answer", CLOUD_ANSWER], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the fake cloud did not start within 15 s")), 15000);
    child.once("exit", (code) => reject(new Error(`the fake cloud exited (${code})`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = line.match(/^Fake Shannon cloud listening on (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const admin = async (path, body) => {
    const res = await fetch(`${url}/__fake/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`/__fake/${path}: ${res.status}`);
  };
  return {
    url,
    /**
     * Stops the fake's listener (every connection and stream cut) and brings it back on the same port
     * after `downMs`. Its tasks keep running meanwhile, as a real cloud's workers do while its gateway
     * is down; only a process restart would lose them.
     */
    goAway: (downMs) => admin("restart", { down_ms: downMs }),
    close: () => child.kill(),
  };
}
