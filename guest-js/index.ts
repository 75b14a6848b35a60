// Typed wrappers around the generated bindings: each returns its value or throws ShannonApiError,
// so callers use try/catch instead of checking `{status}` objects. The raw `commands` and `events`
// stay exported for anyone who prefers the result objects.
import { Channel } from "@tauri-apps/api/core";
import {
  commands,
  events,
  type TaskEvent,
  type ShannonError,
  type SubmitTaskRequest,
  type ListTasksQuery,
  type PluginConfigUpdate,
  type RegisterRequest,
  type LoginRequest,
  type CreateApiKeyRequest,
  type ScheduleRequest,
  type ApprovalDecision,
  type ApprovalScope,
  type UnknownTaskEvent,
  type Value,
  type SaveRemoteProfile,
  type RemoteCredential,
  type RemoteConfig,
  type RemoteStatusChanged,
  type PullOptions,
  type HistoryProgress,
} from "./bindings.js";
import { isKnownEvent } from "./events.js";
import { EventQueue } from "./queue.js";

export * from "./bindings.js";
export * from "./events.js";
export * from "./fold.js";
export * from "./session.js";

/** Stable error kinds: the plugin's own, plus `ipc` for framework failures (ACL denial, bad args). */
export type ShannonErrorKind = ShannonError["kind"] | "ipc";

export class ShannonApiError extends Error {
  readonly kind: ShannonErrorKind;
  constructor(kind: ShannonErrorKind, message: string) {
    super(message);
    this.name = "ShannonApiError";
    this.kind = kind;
  }
}

/** A ShannonApiError narrowed to one kind (or several): `switch (e.kind)` is exhaustive over them. */
export type ShannonApiErrorOf<K extends ShannonErrorKind> = ShannonApiError & { readonly kind: K };

/** True when `e` is a ShannonApiError (of `kind`, if given); narrows `e.kind` to that kind. */
export function isShannonError<K extends ShannonErrorKind = ShannonErrorKind>(
  e: unknown,
  kind?: K,
): e is ShannonApiErrorOf<K> {
  return e instanceof ShannonApiError && (kind === undefined || e.kind === kind);
}

function toError(e: unknown): ShannonApiError {
  if (e instanceof ShannonApiError) return e;
  if (e instanceof Error) return new ShannonApiError("ipc", e.message); // e.g. no Tauri runtime
  if (e && typeof e === "object" && "kind" in e && typeof e.kind === "string") {
    const err = e as { kind: ShannonErrorKind; message?: unknown };
    // Unit variants carry no message; database_too_new carries {found, supported}.
    const message =
      err.message === undefined ? err.kind : typeof err.message === "string" ? err.message : JSON.stringify(err.message);
    return new ShannonApiError(err.kind, message);
  }
  return new ShannonApiError("ipc", typeof e === "string" ? e : String(e));
}

type Result<T> = { status: "ok"; data: T } | { status: "error"; error: ShannonError };

async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  let r: Result<T>;
  try {
    r = await call;
  } catch (e) {
    // Framework-level rejections (ACL, argument errors) arrive as plain strings.
    throw toError(e);
  }
  if (r.status === "error") throw toError(r.error);
  return r.data;
}

// ---- settings: values are JSON on the wire, plain values here --------------------------------

export interface SettingValue<T = unknown> {
  key: string;
  value: T;
  updated_at: string;
}

export async function getSetting<T = unknown>(key: string): Promise<SettingValue<T>> {
  const s = await unwrap(commands.getSetting(key));
  return { ...s, value: JSON.parse(s.value) as T };
}

export async function listSettings(): Promise<SettingValue[]> {
  const all = await unwrap(commands.listSettings());
  return all.map((s) => ({ ...s, value: JSON.parse(s.value) as unknown }));
}

export async function setSetting<T>(key: string, value: T): Promise<SettingValue<T>> {
  // Refuse what has no JSON text (undefined, functions, cycles, bigint) before the IPC call.
  let text: string | undefined;
  try {
    text = JSON.stringify(value) as string | undefined;
  } catch {
    text = undefined;
  }
  if (text === undefined) throw new ShannonApiError("invalid_json", `setting ${key}: value is not JSON-serializable`);
  const s = await unwrap(commands.setSetting(key, text));
  return { ...s, value: JSON.parse(s.value) as T };
}

export const deleteSetting = (key: string) => unwrap(commands.deleteSetting(key));

// ---- provider keys ---------------------------------------------------------------------------

export const setProviderKey = (provider: string, apiKey: string) =>
  unwrap(commands.setProviderKey(provider, apiKey));
export const getProviderKey = (provider: string) => unwrap(commands.getProviderKey(provider));
export const listProviderKeys = () => unwrap(commands.listProviderKeys());
export const deleteProviderKey = (provider: string) => unwrap(commands.deleteProviderKey(provider));
export const markProviderKeyUsed = (provider: string) => unwrap(commands.markProviderKeyUsed(provider));
export const providerStatus = () => unwrap(commands.providerStatus());
/**
 * Points a provider at another endpoint (`null` = its default); returns the endpoint now in use.
 * Needs the opt-in `shannon:allow-set-provider-endpoints`. A stored key stays bound to the endpoint it
 * was stored for: set the endpoint first, then store the key.
 */
export const setProviderEndpoint = (provider: string, baseUrl: string | null) =>
  unwrap(commands.setProviderEndpoint(provider, baseUrl));

/** Whether a task can be submitted on `provider` now (a key is stored, or none is needed). */
export async function isProviderReady(provider: string): Promise<boolean> {
  const all = await providerStatus();
  return all.some((p) => p.provider === provider.trim().toLowerCase() && p.ready);
}

// ---- users and tokens ------------------------------------------------------------------------

export const register = (request: RegisterRequest) => unwrap(commands.register(request));
export const login = (request: LoginRequest) => unwrap(commands.login(request));
export const refreshToken = (refreshToken: string) => unwrap(commands.refreshToken(refreshToken));
export const me = () => unwrap(commands.me());
export const signIn = (token: string) => unwrap(commands.signIn(token));
export const signOut = () => unwrap(commands.signOut());

// ---- Shannon API keys, secrets, configuration ------------------------------------------------

export const createApiKey = (request: CreateApiKeyRequest) => unwrap(commands.createApiKey(request));
export const listApiKeys = () => unwrap(commands.listApiKeys());
export const revokeApiKey = (id: string) => unwrap(commands.revokeApiKey(id));
export const rotateMasterKey = () => unwrap(commands.rotateMasterKey());
export const getPluginConfig = () => unwrap(commands.getPluginConfig());
export const setPluginConfig = (update: PluginConfigUpdate) => unwrap(commands.setPluginConfig(update));

// ---- tasks -----------------------------------------------------------------------------------

export const submitTask = (request: SubmitTaskRequest, idempotencyKey?: string) =>
  unwrap(commands.submitTask(request, idempotencyKey ?? null));
export const getTask = (taskId: string) => unwrap(commands.getTask(taskId));
export const listTasks = (query: ListTasksQuery = {}) => unwrap(commands.listTasks(query));
export const getTaskEvents = (taskId: string, limit?: number, offset?: number) =>
  unwrap(commands.getTaskEvents(taskId, limit ?? null, offset ?? null));
export const getControlState = (taskId: string) => unwrap(commands.getControlState(taskId));
export const pauseTask = (taskId: string, reason?: string) => unwrap(commands.pauseTask(taskId, reason ?? null));
export const resumeTask = (taskId: string, reason?: string) => unwrap(commands.resumeTask(taskId, reason ?? null));
export const cancelTask = (taskId: string, reason?: string) => unwrap(commands.cancelTask(taskId, reason ?? null));
export const getTaskProgress = (taskId: string) => unwrap(commands.getTaskProgress(taskId));
export const getTaskOutput = (taskId: string) => unwrap(commands.getTaskOutput(taskId));

// ---- approvals -------------------------------------------------------------------------------

/** Answers an approval a task waits for; its `approval_id` is in the APPROVAL_REQUESTED payload. */
export const decideApproval = (decision: ApprovalDecision) => unwrap(commands.decideApproval(decision));
/** Approves (a tool call: for `scope` once, the session, or always). */
export const approve = (workflowId: string, approvalId: string, opts: { feedback?: string; scope?: ApprovalScope } = {}) =>
  decideApproval({ workflow_id: workflowId, approval_id: approvalId, approved: true, run_id: null, feedback: opts.feedback ?? null, modified_action: null, approved_by: null, scope: opts.scope ?? null });
/** Denies, with the reason the task (or the model, for a tool call) is given. */
export const deny = (workflowId: string, approvalId: string, feedback?: string) =>
  decideApproval({ workflow_id: workflowId, approval_id: approvalId, approved: false, run_id: null, feedback: feedback ?? null, modified_action: null, approved_by: null, scope: null });
/** The user's approvals, newest first: pending ones by default (what to show after a restart). */
export const listApprovals = (status?: "pending" | "approved" | "denied" | "expired" | "all") =>
  unwrap(commands.listApprovals(status ?? null));
/** One level of a session's workspace (the files its agents wrote). */
export const listSessionFiles = (sessionId: string, path?: string) => unwrap(commands.listSessionFiles(sessionId, path ?? null));
/** A workspace file: `content` is text, or base64 when `base64` is true. */
export const readSessionFile = (sessionId: string, path: string) => unwrap(commands.readSessionFile(sessionId, path));
/**
 * One level of the user's memory folder (agents read it as `/memory/`); `source` a Shannon cloud
 * profile's id for the remote user's memory there. The answer's `source` says where it was read.
 */
export const listMemoryFiles = (path?: string, source?: string) =>
  unwrap(commands.listMemoryFiles(path ?? null, source ?? null));
export const readMemoryFile = (path: string, source?: string) => unwrap(commands.readMemoryFile(path, source ?? null));
/** Skills: every skill's newest version (and the files that do not read), one skill, its versions. */
export const listSkills = (category?: string) => unwrap(commands.listSkills(category ?? null));
export const getSkill = (name: string, version?: string) => unwrap(commands.getSkill(name, version ?? null));
export const skillVersions = (name: string) => unwrap(commands.skillVersions(name));
/** Adds a skill version from its markdown: YAML front matter, then the prompt. */
export const saveSkill = (markdown: string) => unwrap(commands.saveSkill(markdown));
export const deleteSkill = (name: string, version?: string) => unwrap(commands.deleteSkill(name, version ?? null));
/** The ready providers' models by tier (`small`, `medium`, `large`; all when omitted), the default provider first. */
export const listLlmModels = (tier?: "small" | "medium" | "large") => unwrap(commands.listLlmModels(tier ?? null));
/** Saves a skill marked dangerous, and lets tasks use such skills (opt-in `shannon:allow-dangerous-skills`). */
export const saveDangerousSkill = (markdown: string) => unwrap(commands.saveDangerousSkill(markdown));
export const setDangerousSkillsAllowed = (allowed: boolean) => unwrap(commands.setDangerousSkillsAllowed(allowed));
/** Deterministic single-tool agents; executing one starts a task (subscribe to its `task_id`). */
export const listAgents = () => unwrap(commands.listAgents());
export const getAgent = (id: string) => unwrap(commands.getAgent(id));
export const executeAgent = (id: string, input: Value, sessionId?: string) =>
  unwrap(commands.executeAgent(id, input, sessionId ?? null));
/**
 * The tool catalogue, and one tool run directly (opt-in `shannon:allow-execute-tools`; a dangerous one
 * only once the user allowed it).
 */
export const listTools = (opts: { category?: string; includeDangerous?: boolean } = {}) =>
  unwrap(commands.listTools(opts.category ?? null, opts.includeDangerous ?? null));
export const getTool = (name: string) => unwrap(commands.getTool(name));
export const executeTool = (name: string, args: { [key in string]: Value } = {}, sessionId?: string) =>
  unwrap(commands.executeTool(name, args, sessionId ?? null));
/** Every configured MCP server: its state, last error, restarts and tools. */
export const mcpStatus = () => unwrap(commands.mcpStatus());
/** A task's history in the cloud's timeline vocabulary. */
export const taskTimeline = (id: string, opts: { mode?: "summary" | "full"; includePayloads?: boolean } = {}) =>
  unwrap(commands.taskTimeline(id, opts.mode ?? null, opts.includePayloads ?? null));
/** A research task's plan under review (`require_review` with `force_research`). */
export const getResearchReview = (taskId: string) => unwrap(commands.getResearchReview(taskId));
/** Feedback on the plan: resolves with the revised plan once the task wrote it. */
export const reviewFeedback = (taskId: string, message: string, version?: number) =>
  unwrap(commands.reviewResearchPlan(taskId, { action: "feedback", message }, version ?? null));
/** Approves the plan (the version the user saw: a newer one is refused); the research starts. */
export const approveResearchPlan = (taskId: string, version?: number) =>
  unwrap(commands.reviewResearchPlan(taskId, { action: "approve", message: null }, version ?? null));
/** A message to a running swarm's lead (`force_swarm`), read at its next decision. */
export const sendSwarmMessage = (taskId: string, message: string) => unwrap(commands.sendSwarmMessage(taskId, message));
export const listToolGrants = () => unwrap(commands.listToolGrants());
/** Lets a tool through without asking: for a session, or always (opt-in `shannon:allow-grant-tools`). */
export const grantTool = (tool: string, sessionId?: string) => unwrap(commands.grantTool(tool, sessionId ?? null));
export const revokeToolGrant = (tool: string, sessionId?: string) => unwrap(commands.revokeToolGrant(tool, sessionId ?? null));

// ---- schedules -------------------------------------------------------------------------------

export const createSchedule = (request: ScheduleRequest) => unwrap(commands.createSchedule(request));
export const listSchedules = (opts: { page?: number; pageSize?: number; status?: "ACTIVE" | "PAUSED" | "ALL" } = {}) =>
  unwrap(commands.listSchedules(opts.page ?? null, opts.pageSize ?? null, opts.status ?? null));
export const getSchedule = (scheduleId: string) => unwrap(commands.getSchedule(scheduleId));
export const updateSchedule = (scheduleId: string, request: ScheduleRequest) =>
  unwrap(commands.updateSchedule(scheduleId, request));
export const pauseSchedule = (scheduleId: string) => unwrap(commands.pauseSchedule(scheduleId));
export const resumeSchedule = (scheduleId: string) => unwrap(commands.resumeSchedule(scheduleId));
export const deleteSchedule = (scheduleId: string) => unwrap(commands.deleteSchedule(scheduleId));
export const getScheduleRuns = (scheduleId: string, page?: number, pageSize?: number) =>
  unwrap(commands.getScheduleRuns(scheduleId, page ?? null, pageSize ?? null));

// ---- sessions --------------------------------------------------------------------------------

export const listSessions = (limit?: number, offset?: number) =>
  unwrap(commands.listSessions(limit ?? null, offset ?? null));
export const getSession = (sessionId: string) => unwrap(commands.getSession(sessionId));
export const getSessionHistory = (sessionId: string) => unwrap(commands.getSessionHistory(sessionId));
export const getSessionEvents = (sessionId: string, opts: { limit?: number; offset?: number; includePayload?: boolean } = {}) =>
  unwrap(commands.getSessionEvents(sessionId, opts.limit ?? null, opts.offset ?? null, opts.includePayload ?? null));
export const renameSession = (sessionId: string, title: string) => unwrap(commands.renameSession(sessionId, title));
export const deleteSession = (sessionId: string) => unwrap(commands.deleteSession(sessionId));

// ---- remote mode: sessions on a Shannon cloud deployment -------------------------------------
//
// A task runs on a cloud when its session does: name a profile as `target` when the session starts
// (`submitTask({query, target: "team"})`); later tasks of the session follow it. Streams, resume ids,
// control and reads work as for local tasks. Managing profiles needs the opt-in
// `shannon:allow-remote-profiles`.

export const listRemoteProfiles = () => unwrap(commands.listRemoteProfiles());
/** Creates or replaces a profile (opt-in); `https` unless loopback or `allow_insecure_http`. */
export const saveRemoteProfile = (profile: SaveRemoteProfile) => unwrap(commands.saveRemoteProfile(profile));
export const deleteRemoteProfile = (profileId: string) => unwrap(commands.deleteRemoteProfile(profileId));
/** Stores a profile's API key or JWT pair, sealed for its endpoint (`null` deletes it); never returned. */
export const setRemoteCredential = (profileId: string, credential: RemoteCredential | null) =>
  unwrap(commands.setRemoteCredential(profileId, credential));
/** Probes the profile's server: reachable, ready, auth, user, tier, rate limits, latency, capabilities. */
export const verifyRemoteProfile = (profileId: string, fresh = false) =>
  unwrap(commands.verifyRemoteProfile(profileId, fresh));
/** The switch, the default target and each profile's connection state. */
export const remoteStatus = () => unwrap(commands.remoteStatus());
/** Turns remote mode on or off and sets where new sessions run by default (opt-in). */
export const setRemoteConfig = (config: RemoteConfig) => unwrap(commands.setRemoteConfig(config));
/** Copies a session into a new local one whose memory is its completed turns (to continue offline). */
export const forkSession = (sessionId: string) => unwrap(commands.forkSession(sessionId));
/** A Shannon cloud's skills, agents and tools, beside the local catalogues (`source`: the profile). */
export const remoteCatalog = (profileId: string) => unwrap(commands.remoteCatalog(profileId));
/**
 * Brings a page (100, from `offset`) of the user's sessions on a Shannon cloud into the session list
 * with their backend; `next_offset` is set while more remain.
 */
export const syncRemoteSessions = (profileId: string, offset?: number) =>
  unwrap(commands.syncRemoteSessions(profileId, offset ?? null));
/**
 * Moves the user's active schedules to a Shannon cloud profile (they fire there while this device
 * sleeps); each local copy is paused once the cloud has it, so nothing fires twice.
 */
export const pushSchedules = (profileId: string) => unwrap(commands.pushSchedules(profileId));
/** Calls `handler` each time a profile goes online, offline, or has its credential refused; returns an unlisten function. */
export const onRemoteStatusChanged = (handler: (change: RemoteStatusChanged) => void) =>
  events.remoteStatusChanged.listen((e) => handler(e.payload));
/** Calls `handler` as an export, import or pull moves on (`done` of `total` tasks or sessions); returns an unlisten function. */
export const onHistoryProgress = (handler: (progress: HistoryProgress) => void) =>
  events.historyProgress.listen((e) => handler(e.payload));

// ---- History bundles (opt-in permission shannon:allow-history-transfer) ----------------------
/**
 * Exports the user's history to `dir` (an absolute folder, new or empty) as a `shannon-history`
 * bundle: sessions, finished tasks with their stored events, usage, schedules, workspaces, memory.
 */
export const exportHistory = (dir: string, includeDeltas = false) =>
  unwrap(commands.exportHistory(dir, includeDeltas));
/** Imports a bundle (checked whole first; importing it again adds nothing; schedules arrive paused). */
export const importHistory = (dir: string) => unwrap(commands.importHistory(dir));
/**
 * Brings the user's history on a Shannon cloud profile onto this device (sessions, finished tasks,
 * stored events), paced under the cloud's rate limit; pulling again resumes without duplicates.
 */
export const pullHistory = (profileId: string, options?: PullOptions) =>
  unwrap(commands.pullHistory(profileId, options ?? null));

// ---- HTTP listener (opt-in permission shannon:allow-listener) --------------------------------

export const listenerStart = (port?: number) => unwrap(commands.listenerStart(port ?? null));
export const listenerStop = () => unwrap(commands.listenerStop());
export const listenerStatus = () => unwrap(commands.listenerStatus());

// ---- streaming -------------------------------------------------------------------------------

export interface SubscribeTaskOptions {
  /** Called for every known event, in order (LLM_PARTIAL deltas included). Optional when iterating. */
  onEvent?: (event: TaskEvent) => void;
  /**
   * Called for events of a type this package does not know (a newer engine): they are kept out of
   * `onEvent` and the iterator, whose `TaskEvent` type they would not fit, but still move the resume point.
   */
  onUnknownEvent?: (event: UnknownTaskEvent) => void;
  /** Aborting ends the subscription, in the core too (as `close()`); the iterator then ends. */
  signal?: AbortSignal;
  /** Resume after this stored `seq` (events up to it are not sent again). */
  lastEventId?: number;
  /**
   * Resume after exactly this event: a delta's `stream_id` (`"<seq>-<n>"`) or a stored seq as text.
   * Wins over `lastEventId`; with it, a reconnect mid-answer gets every delta it missed, none twice.
   */
  lastStreamId?: string;
  /**
   * Set when the app still holds the events an earlier subscription for this task delivered (it kept
   * its folded view across the reload, say): the stream then resumes after the last one, remembered in
   * `storage`. Left unset, the task is replayed from its start, because resuming into a view that lost
   * the earlier events would show half an answer. An explicit `lastStreamId`/`lastEventId` wins.
   */
  keptEarlierEvents?: boolean;
  /** Only these event types (e.g. `["LLM_PARTIAL", "LLM_OUTPUT", "STREAM_END"]`). */
  types?: string[];
  /** Merge LLM_PARTIAL deltas arriving within one frame (16 ms) into one event. */
  coalesce?: boolean;
  /**
   * Where the last seen position of each task is kept, for `keptEarlierEvents`.
   * Default: `sessionStorage` (per tab) when there is one; `null` turns this off.
   */
  storage?: ResumeStorage | null;
}

/** The part of the Web Storage API `subscribeTask` uses to remember resume points. */
export type ResumeStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

/** The storage key under which `subscribeTask` remembers a task's last seen `seq`. */
export const resumeKey = (taskId: string) => `tauri-plugin-shannon:last-event-id:${taskId}`;

function defaultStorage(): ResumeStorage | null {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null; // access can throw (sandboxed or storage disabled)
  }
}

const STREAM_ID = /^(\d+)(?:-(\d+))?$/;

/** The exact resume point (`"<seq>"` or `"<seq>-<n>"`) `subscribeTask` remembered for a task, if any. */
export function storedLastStreamId(taskId: string, storage: ResumeStorage | null = defaultStorage()): string | undefined {
  const text = storage?.getItem(resumeKey(taskId));
  return text != null && STREAM_ID.test(text) ? text : undefined;
}

/** The stored `seq` of the resume point `subscribeTask` remembered for a task, if any. */
export function storedLastEventId(taskId: string, storage: ResumeStorage | null = defaultStorage()): number | undefined {
  const id = storedLastStreamId(taskId, storage);
  const n = id == null ? NaN : Number(id.split("-")[0]);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * A live subscription. Iterate it (`for await (const e of stream)`) or use `onEvent`, or both: without
 * `onEvent` the iterator gets every event from the start (buffered until read); with it, the iterator
 * gets those from when it is created. It ends after STREAM_END, `close()` or an abort; `break` closes.
 */
export interface TaskStream extends AsyncIterable<TaskEvent> {
  /** The Tauri Channel's id, which `unsubscribe_task` names. */
  readonly channelId: number;
  /** The `seq` of the last event received (a delta carries the stored seq before it). */
  lastEventId(): number | undefined;
  /** The exact position of the last event received: pass it as `lastStreamId` to resume. */
  lastStreamId(): string | undefined;
  /** Resolves once STREAM_END has been delivered, or the subscription was closed. */
  done: Promise<void>;
  /** Stops delivery at once and ends the subscription in the core. */
  close(): void;
}

/** Ends a subscription in the core by its Channel's id (ending one that already ended is no error). */
export const unsubscribeTask = (channelId: number) => unwrap(commands.unsubscribeTask(channelId));

const abortReason = (signal: AbortSignal): unknown =>
  signal.reason ?? new DOMException("The subscription was aborted", "AbortError");

/**
 * Streams a task's events over an ordered Tauri Channel, from its start, or resumable from
 * `lastStreamId`/`lastEventId`, or (with `keptEarlierEvents`) from where an earlier subscription for
 * this task stopped. Rejects with the signal's reason when `signal` is aborted before it is set up.
 */
export async function subscribeTask(taskId: string, options: SubscribeTaskOptions = {}): Promise<TaskStream> {
  const { signal } = options;
  if (signal?.aborted) throw abortReason(signal);
  const storage = options.storage === undefined ? defaultStorage() : options.storage;
  const remember = (id: string) => {
    try {
      storage?.setItem(resumeKey(taskId), id);
    } catch {
      // a full or disabled storage only costs the automatic resume
    }
  };
  const forget = () => {
    try {
      storage?.removeItem(resumeKey(taskId));
    } catch {
      // as above
    }
  };
  const explicit = options.lastStreamId ?? (options.lastEventId == null ? undefined : String(options.lastEventId));
  const from = explicit ?? (options.keptEarlierEvents ? storedLastStreamId(taskId, storage) : undefined);
  let last = from;
  let open = true;
  let ended = false; // STREAM_END came: the core has already dropped the subscription
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const channel = new Channel<TaskEvent | UnknownTaskEvent>();
  // Without a callback nothing else reads the events: buffer them from the start for the iterator.
  let queue: EventQueue<TaskEvent> | null = options.onEvent ? null : new EventQueue<TaskEvent>(() => close());
  let iterated = false;
  let subscribed = false; // unsubscribe_task can only end what subscribe_task has set up

  const close = () => {
    if (!open) return;
    open = false;
    signal?.removeEventListener("abort", close);
    queue?.end(true);
    finish();
    // The core keeps forwarding until told; a failure here (runtime gone, already ended) changes nothing.
    if (subscribed && !ended) unsubscribeTask(channel.id).catch(() => {});
  };

  channel.onmessage = (event) => {
    if (!open) return;
    // Every event is a resume point: a delta by its stream id, a stored event by its seq.
    last = event.stream_id ?? String(event.seq);
    remember(last);
    if (isKnownEvent(event)) {
      options.onEvent?.(event);
      queue?.push(event);
    } else {
      options.onUnknownEvent?.(event);
    }
    if (event.type === "STREAM_END") {
      ended = true;
      open = false;
      signal?.removeEventListener("abort", close);
      forget();
      queue?.end();
      finish();
    }
  };
  signal?.addEventListener("abort", close);
  try {
    await unwrap(commands.subscribeTask(taskId, null, from ?? null, options.types ?? null, options.coalesce ?? null, channel as Channel<TaskEvent>));
  } catch (e) {
    open = false;
    signal?.removeEventListener("abort", close);
    throw e;
  }
  subscribed = true;
  // Aborted while the subscription was being set up: end it in the core now, and say so as fetch does.
  if (!open && !ended) unsubscribeTask(channel.id).catch(() => {});
  if (signal?.aborted) throw abortReason(signal);
  return {
    channelId: channel.id,
    lastEventId: () => (last == null ? undefined : Number(last.split("-")[0])),
    lastStreamId: () => last,
    done,
    close,
    [Symbol.asyncIterator]() {
      if (iterated) throw new Error("a TaskStream can be iterated once");
      iterated = true;
      queue ??= new EventQueue<TaskEvent>(() => close());
      if (!open) queue.end();
      return queue;
    },
  };
}

/** @deprecated Renamed `SubscribeTaskOptions` (one name per operation); this alias goes in the next release. */
export type StreamTaskOptions = SubscribeTaskOptions;

/** @deprecated Renamed `subscribeTask`, as the IPC command and the core call it; this alias goes in the next release. */
export const streamTask = subscribeTask;
