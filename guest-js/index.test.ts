import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import * as api from "./index";
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

  it("getSetting parses the stored JSON text", async () => {
    const calls = record(() => ({ key: "ui.prefs", value: '{"theme":"dark"}', updated_at: "t" }));
    const s = await getSetting<{ theme: string }>("ui.prefs");
    expect(calls).toEqual([{ cmd: "plugin:shannon|get_setting", args: { key: "ui.prefs" } }]);
    expect(s.value.theme).toBe("dark");
  });

  it("refuses a value with no JSON text without calling the plugin", async () => {
    const calls = record(() => null);
    const err = await setSetting("k", undefined).catch((e: unknown) => e);
    expect(isShannonError(err, "invalid_json")).toBe(true);
    expect(calls).toEqual([]);
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

  it("an Error thrown by the runtime becomes kind ipc with its message", async () => {
    mockIPC(() => {
      throw new Error("no runtime");
    });
    const err = await setProviderKey("openai", "sk-x").catch((e: unknown) => e);
    expect(isShannonError(err, "ipc")).toBe(true);
    expect((err as ShannonApiError).message).toBe("no runtime");
  });

  it("a structured message (database_too_new) is kept as JSON text", async () => {
    mockIPC(() => {
      throw { kind: "database_too_new", message: { found: 9, supported: 3 } };
    });
    const err = await api.me().catch((e: unknown) => e);
    expect(isShannonError(err, "database_too_new")).toBe(true);
    expect((err as ShannonApiError).message).toBe('{"found":9,"supported":3}');
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

// Every wrapper against the command and camelCase argument names the Rust side expects.
const cases: [string, () => Promise<unknown>, string, Record<string, unknown>][] = [
  ["deleteSetting", () => api.deleteSetting("k"), "delete_setting", { key: "k" }],
  ["setProviderKey", () => api.setProviderKey("openai", "sk-1"), "set_provider_key", { provider: "openai", apiKey: "sk-1" }],
  ["getProviderKey", () => api.getProviderKey("openai"), "get_provider_key", { provider: "openai" }],
  ["listProviderKeys", () => api.listProviderKeys(), "list_provider_keys", {}],
  ["deleteProviderKey", () => api.deleteProviderKey("openai"), "delete_provider_key", { provider: "openai" }],
  ["markProviderKeyUsed", () => api.markProviderKeyUsed("openai"), "mark_provider_key_used", { provider: "openai" }],
  ["providerStatus", () => api.providerStatus(), "provider_status", {}],
  ["register", () => api.register({ email: "a@b.c", password: "pw" }), "register", { request: { email: "a@b.c", password: "pw" } }],
  ["login", () => api.login({ email: "a@b.c", password: "pw" }), "login", { request: { email: "a@b.c", password: "pw" } }],
  ["refreshToken", () => api.refreshToken("r1"), "refresh_token", { refreshToken: "r1" }],
  ["me", () => api.me(), "me", {}],
  ["signIn", () => api.signIn("tok"), "sign_in", { token: "tok" }],
  ["signOut", () => api.signOut(), "sign_out", {}],
  ["createApiKey", () => api.createApiKey({ name: "ci" }), "create_api_key", { request: { name: "ci" } }],
  ["listApiKeys", () => api.listApiKeys(), "list_api_keys", {}],
  ["revokeApiKey", () => api.revokeApiKey("id-1"), "revoke_api_key", { id: "id-1" }],
  ["rotateMasterKey", () => api.rotateMasterKey(), "rotate_master_key", {}],
  ["getPluginConfig", () => api.getPluginConfig(), "get_plugin_config", {}],
  ["setPluginConfig", () => api.setPluginConfig({ listener_port: 0 }), "set_plugin_config", { update: { listener_port: 0 } }],
  ["listenerStart", () => api.listenerStart(0), "listener_start", { port: 0 }],
  ["listenerStop", () => api.listenerStop(), "listener_stop", {}],
  ["listenerStatus", () => api.listenerStatus(), "listener_status", {}],
  ["getTask", () => api.getTask("t1"), "get_task", { taskId: "t1" }],
  ["listTasks", () => api.listTasks(), "list_tasks", { query: {} }],
  ["getTaskEvents", () => api.getTaskEvents("t1", 10), "get_task_events", { taskId: "t1", limit: 10, offset: null }],
  ["getControlState", () => api.getControlState("t1"), "get_control_state", { taskId: "t1" }],
  ["resumeTask", () => api.resumeTask("t1", "go"), "resume_task", { taskId: "t1", reason: "go" }],
  ["cancelTask", () => api.cancelTask("t1"), "cancel_task", { taskId: "t1", reason: null }],
  ["listSessions", () => api.listSessions(5, 10), "list_sessions", { limit: 5, offset: 10 }],
  ["getSession", () => api.getSession("s1"), "get_session", { sessionId: "s1" }],
  ["getSessionHistory", () => api.getSessionHistory("s1"), "get_session_history", { sessionId: "s1" }],
  [
    "getSessionEvents",
    () => api.getSessionEvents("s1", { includePayload: true }),
    "get_session_events",
    { sessionId: "s1", limit: null, offset: null, includePayload: true },
  ],
  ["renameSession", () => api.renameSession("s1", "T"), "rename_session", { sessionId: "s1", title: "T" }],
  ["deleteSession", () => api.deleteSession("s1"), "delete_session", { sessionId: "s1" }],
];

describe.each(cases)("%s", (_name, call, cmd, args) => {
  it(`invokes plugin:shannon|${cmd} and returns the data`, async () => {
    const calls = record(() => ({ ok: cmd }));
    await expect(call()).resolves.toEqual({ ok: cmd });
    expect(calls).toEqual([{ cmd: `plugin:shannon|${cmd}`, args }]);
  });
});

describe("streamTask", () => {
  it("subscribes with a Channel and the resume point", async () => {
    const calls: { cmd: string; args: Record<string, unknown> }[] = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      return null;
    });
    const stream = await api.streamTask("task-1", { onEvent: () => {}, lastEventId: 4, types: ["STREAM_END"], coalesce: true });
    expect(calls[0].cmd).toBe("plugin:shannon|subscribe_task");
    expect(calls[0].args).toMatchObject({ taskId: "task-1", lastEventId: 4, types: ["STREAM_END"], coalesce: true });
    expect(calls[0].args.onEvent).toBeDefined();
    expect(stream.lastEventId()).toBe(4);
    stream.close();
    await stream.done;
  });
});
