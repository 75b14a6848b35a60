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
  ["getTaskProgress", () => api.getTaskProgress("t1"), "get_task_progress", { taskId: "t1" }],
  ["getTaskOutput", () => api.getTaskOutput("t1"), "get_task_output", { taskId: "t1" }],
  [
    "createSchedule",
    () => api.createSchedule({ name: "n", cron_expression: "0 9 * * 1-5", task_query: "q" }),
    "create_schedule",
    { request: { name: "n", cron_expression: "0 9 * * 1-5", task_query: "q" } },
  ],
  ["listSchedules", () => api.listSchedules({ status: "PAUSED" }), "list_schedules", { page: null, pageSize: null, status: "PAUSED" }],
  ["getSchedule", () => api.getSchedule("s1"), "get_schedule", { scheduleId: "s1" }],
  ["updateSchedule", () => api.updateSchedule("s1", { name: "m" }), "update_schedule", { scheduleId: "s1", request: { name: "m" } }],
  ["pauseSchedule", () => api.pauseSchedule("s1"), "pause_schedule", { scheduleId: "s1" }],
  ["resumeSchedule", () => api.resumeSchedule("s1"), "resume_schedule", { scheduleId: "s1" }],
  ["deleteSchedule", () => api.deleteSchedule("s1"), "delete_schedule", { scheduleId: "s1" }],
  ["getScheduleRuns", () => api.getScheduleRuns("s1", 2), "get_schedule_runs", { scheduleId: "s1", page: 2, pageSize: null }],
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
  ["unsubscribeTask", () => api.unsubscribeTask(7), "unsubscribe_task", { channelId: 7 }],
];

describe.each(cases)("%s", (_name, call, cmd, args) => {
  it(`invokes plugin:shannon|${cmd} and returns the data`, async () => {
    const calls = record(() => ({ ok: cmd }));
    await expect(call()).resolves.toEqual({ ok: cmd });
    expect(calls).toEqual([{ cmd: `plugin:shannon|${cmd}`, args }]);
  });
});

describe("subscribeTask", () => {
  it("subscribes with a Channel and the resume point", async () => {
    const calls: { cmd: string; args: Record<string, unknown> }[] = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      return null;
    });
    const stream = await api.subscribeTask("task-1", { onEvent: () => {}, lastEventId: 4, types: ["STREAM_END"], coalesce: true });
    expect(calls[0].cmd).toBe("plugin:shannon|subscribe_task");
    expect(calls[0].args).toMatchObject({ taskId: "task-1", lastEventId: null, lastStreamId: "4", types: ["STREAM_END"], coalesce: true });
    expect(calls[0].args.onEvent).toBeDefined();
    expect(stream.lastEventId()).toBe(4);
    expect(stream.lastStreamId()).toBe("4");
    stream.close();
    await stream.done;
  });

  it("keeps the old name streamTask as a deprecated alias for one release", () => {
    expect(api.streamTask).toBe(api.subscribeTask);
  });
});

describe("subscribeTask resume across reloads", () => {
  type Sub = { args: Record<string, unknown>; send: (message: unknown) => void };

  // Records each subscribe_task call and lets the test push ordered Channel messages into it.
  function subscriptions(): Sub[] {
    const subs: Sub[] = [];
    mockIPC((cmd, args) => {
      if (cmd === "plugin:shannon|unsubscribe_task") return null;
      if (cmd !== "plugin:shannon|subscribe_task") throw new Error(`unexpected ${cmd}`);
      const a = (args ?? {}) as Record<string, unknown>;
      const channel = a.onEvent as { id: number };
      let index = 0;
      const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback: (id: number, data: unknown) => void } })
        .__TAURI_INTERNALS__;
      subs.push({ args: a, send: (message) => internals.runCallback(channel.id, { index: index++, message }) });
      return null;
    });
    return subs;
  }

  const ev = (type: string, seq: number, message?: string, stream_id?: string) => ({ workflow_id: "task-1", type, seq, message, stream_id, timestamp: "t" });

  function memoryStorage() {
    const m = new Map<string, string>();
    return {
      map: m,
      getItem: (k: string) => m.get(k) ?? null,
      setItem: (k: string, v: string) => void m.set(k, v),
      removeItem: (k: string) => void m.delete(k),
    };
  }

  it("with keptEarlierEvents, a second subscribeTask (after a reload) resumes after exactly the last event seen, a delta included", async () => {
    const subs = subscriptions();
    const storage = memoryStorage();
    const seen: string[] = [];
    const first = await api.subscribeTask("task-1", { onEvent: (e) => seen.push(e.type), storage, keptEarlierEvents: true });
    expect(subs[0].args.lastStreamId).toBeNull();
    subs[0].send(ev("WORKFLOW_STARTED", 1));
    subs[0].send(ev("LLM_PROMPT", 1, "q", "1-1"));
    subs[0].send(ev("AGENT_STARTED", 2));
    subs[0].send(ev("LLM_PARTIAL", 2, "Hel", "2-1")); // a delta: the stored seq before it, and its own stream id
    expect(seen).toEqual(["WORKFLOW_STARTED", "LLM_PROMPT", "AGENT_STARTED", "LLM_PARTIAL"]);
    expect(first.lastEventId()).toBe(2);
    expect(first.lastStreamId()).toBe("2-1");
    expect(api.storedLastEventId("task-1", storage)).toBe(2);
    expect(api.storedLastStreamId("task-1", storage)).toBe("2-1");
    first.close(); // the page goes away

    const second = await api.subscribeTask("task-1", { onEvent: () => {}, storage, keptEarlierEvents: true });
    expect(subs[1].args.lastStreamId).toBe("2-1");
    expect(second.lastStreamId()).toBe("2-1");
    // Other tasks have their own resume points.
    await api.subscribeTask("task-2", { onEvent: () => {}, storage, keptEarlierEvents: true });
    expect(subs[2].args.lastStreamId).toBeNull();
  });

  it("without keptEarlierEvents, a reloaded page replays the task from its start (never half an answer)", async () => {
    const subs = subscriptions();
    const storage = memoryStorage();
    const first = await api.subscribeTask("task-1", { onEvent: () => {}, storage });
    subs[0].send(ev("AGENT_STARTED", 2));
    subs[0].send(ev("LLM_PARTIAL", 2, "Hel", "2-1"));
    expect(api.storedLastStreamId("task-1", storage)).toBe("2-1"); // still remembered, for apps that keep their view
    first.close();
    await api.subscribeTask("task-1", { onEvent: () => {}, storage });
    expect(subs[1].args.lastStreamId).toBeNull();
    await api.subscribeTask("task-1", { onEvent: () => {}, storage, keptEarlierEvents: false });
    expect(subs[2].args.lastStreamId).toBeNull();
  });

  it("forgets the resume point after STREAM_END, so a later call replays the whole stream", async () => {
    const subs = subscriptions();
    const storage = memoryStorage();
    const stream = await api.subscribeTask("task-1", { onEvent: () => {}, storage });
    subs[0].send(ev("WORKFLOW_COMPLETED", 7));
    expect(storage.map.get(api.resumeKey("task-1"))).toBe("7");
    subs[0].send(ev("STREAM_END", 8));
    await stream.done;
    expect(storage.map.size).toBe(0);
    await api.subscribeTask("task-1", { onEvent: () => {}, storage, keptEarlierEvents: true });
    expect(subs[1].args.lastStreamId).toBeNull();
  });

  it("an explicit lastEventId wins over the stored one; storage null turns persistence off", async () => {
    const subs = subscriptions();
    const storage = memoryStorage();
    storage.setItem(api.resumeKey("task-1"), "5");
    await api.subscribeTask("task-1", { onEvent: () => {}, storage, lastEventId: 3, keptEarlierEvents: true });
    expect(subs[0].args.lastStreamId).toBe("3");
    await api.subscribeTask("task-1", { onEvent: () => {}, storage, lastStreamId: "3-2", lastEventId: 1 });
    expect(subs[1].args.lastStreamId).toBe("3-2");
    const off = await api.subscribeTask("task-1", { onEvent: () => {}, storage: null });
    expect(subs[2].args.lastStreamId).toBeNull();
    subs[2].send(ev("WORKFLOW_STARTED", 9));
    expect(off.lastEventId()).toBe(9);
    expect(storage.getItem(api.resumeKey("task-1"))).toBe("5");
  });

  it("uses sessionStorage by default and ignores a corrupt stored value", async () => {
    const subs = subscriptions();
    sessionStorage.clear();
    await api.subscribeTask("task-1", { onEvent: () => {} });
    subs[0].send(ev("WORKFLOW_STARTED", 4));
    expect(sessionStorage.getItem(api.resumeKey("task-1"))).toBe("4");
    await api.subscribeTask("task-1", { onEvent: () => {}, keptEarlierEvents: true });
    expect(subs[1].args.lastStreamId).toBe("4");
    sessionStorage.setItem(api.resumeKey("task-1"), "not a number");
    await api.subscribeTask("task-1", { onEvent: () => {}, keptEarlierEvents: true });
    expect(subs[2].args.lastStreamId).toBeNull();
    sessionStorage.clear();
  });
});

describe("typed errors", () => {
  it("isShannonError narrows the kind", async () => {
    mockIPC(() => {
      throw { kind: "provider_not_ready", message: "OpenAI has no API key" };
    });
    const err: unknown = await submitTask({ query: "q", provider_override: "openai" }).catch((e: unknown) => e);
    if (!isShannonError(err, "provider_not_ready")) throw new Error("expected provider_not_ready");
    const kind: "provider_not_ready" = err.kind; // compile-time check of the narrowing
    expect(kind).toBe("provider_not_ready");
    expect(err.message).toBe("OpenAI has no API key");
  });
});

describe("remote mode", () => {
  it("sends the profile, the credential and the target as the commands name them", async () => {
    const calls = record(({ cmd }) => (cmd.endsWith("save_remote_profile") ? { id: "team" } : null));
    await api.saveRemoteProfile({
      id: "team",
      name: "Team",
      base_url: "https://shannon.example.com",
      auth: "api_key",
      ca_cert_pem: null,
      allow_insecure_http: false,
      fallback_local: false,
      connect_timeout_ms: null,
      request_timeout_ms: null,
    });
    await api.setRemoteCredential("team", { kind: "api_key", api_key: "sk_x" });
    await api.verifyRemoteProfile("team");
    expect(calls.map((c) => c.cmd)).toEqual([
      "plugin:shannon|save_remote_profile",
      "plugin:shannon|set_remote_credential",
      "plugin:shannon|verify_remote_profile",
    ]);
    expect(calls[1].args).toEqual({ profileId: "team", credential: { kind: "api_key", api_key: "sk_x" } });
    expect(calls[2].args).toEqual({ profileId: "team", fresh: false });
  });

  it("surfaces the remote error kinds for narrowing", async () => {
    record(() => {
      throw { kind: "session_on_other_backend", message: "session s runs on the Shannon cloud profile \"team\"; fork it" };
    });
    const err = await submitTask({ query: "q", session_id: "s", target: "local" } as never).catch((e: unknown) => e);
    expect(isShannonError(err, "session_on_other_backend")).toBe(true);
  });
});
