import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import {
  ShannonApiError,
  getSetting,
  isProviderReady,
  isShannonError,
  listSettings,
  pauseTask,
  setProviderKey,
  setSetting,
  submitTask,
} from "./index";

type Call = { cmd: string; args: Record<string, unknown> };

function record(reply: (call: Call) => unknown): Call[] {
  const calls: Call[] = [];
  mockIPC((cmd, args) => {
    const call = { cmd, args: (args ?? {}) as Record<string, unknown> };
    calls.push(call);
    return reply(call);
  });
  return calls;
}

afterEach(() => clearMocks());

describe("settings", () => {
  it("stringifies values on the way in and parses them on the way out", async () => {
    const calls = record(({ args }) => ({ key: args.key, value: args.value, updated_at: "t" }));
    const saved = await setSetting("ui.prefs", { theme: "dark", size: 14 });
    expect(calls[0]).toEqual({
      cmd: "plugin:shannon|set_setting",
      args: { key: "ui.prefs", value: '{"theme":"dark","size":14}' },
    });
    expect(saved.value).toEqual({ theme: "dark", size: 14 });
  });

  it("parses every listed value", async () => {
    record(() => [
      { key: "a", value: "42", updated_at: "t" },
      { key: "b", value: '"text"', updated_at: "t" },
    ]);
    const all = await listSettings();
    expect(all.map((s) => s.value)).toEqual([42, "text"]);
  });

  it("turns a plugin error into a ShannonApiError with its kind", async () => {
    mockIPC(() => {
      throw { kind: "not_found", message: "not found: setting nope" };
    });
    const err = await getSetting("nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShannonApiError);
    expect(isShannonError(err, "not_found")).toBe(true);
    expect((err as ShannonApiError).message).toBe("not found: setting nope");
  });
});

describe("framework failures", () => {
  it("become kind ipc", async () => {
    mockIPC(() => {
      throw "shannon.set_provider_key not allowed. Permissions associated with this command: shannon:allow-set-provider-key";
    });
    const err = await setProviderKey("openai", "sk-x").catch((e: unknown) => e);
    expect(isShannonError(err, "ipc")).toBe(true);
    expect(isShannonError(err, "not_found")).toBe(false);
  });

  it("unit error variants without a message keep their kind", async () => {
    mockIPC(() => {
      throw { kind: "invalid_credentials" };
    });
    const err = await setProviderKey("openai", "sk-x").catch((e: unknown) => e);
    expect(isShannonError(err, "invalid_credentials")).toBe(true);
  });
});

describe("commands and arguments", () => {
  it("send camelCase arguments to plugin:shannon commands", async () => {
    const calls = record(({ cmd }) =>
      cmd.endsWith("submit_task")
        ? { task_id: "task-1", workflow_id: "task-1", session_id: "s", status: "STATUS_CODE_OK", message: "", created_at: "t", idempotent_replay: false }
        : { success: true, message: "Pause signal sent", task_id: "task-1" },
    );
    const sub = await submitTask({ query: "hi" }, "idem-1");
    expect(sub.task_id).toBe("task-1");
    await pauseTask("task-1");
    expect(calls).toEqual([
      { cmd: "plugin:shannon|submit_task", args: { request: { query: "hi" }, idempotencyKey: "idem-1" } },
      { cmd: "plugin:shannon|pause_task", args: { taskId: "task-1", reason: null } },
    ]);
  });

  it("isProviderReady reads provider_status", async () => {
    record(() => [
      { provider: "openai", ready: false },
      { provider: "demo", ready: true },
    ]);
    expect(await isProviderReady("OpenAI")).toBe(false);
    expect(await isProviderReady("demo")).toBe(true);
  });
});
