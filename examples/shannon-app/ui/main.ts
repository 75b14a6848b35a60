// The desktop example's UI: plain DOM on the guest-js package (no framework), five pages.
import {
  approve,
  cancelTask,
  deny,
  deleteProviderKey,
  deleteRemoteProfile,
  emptyRun,
  events,
  exportHistory,
  onHistoryProgress,
  foldEvent,
  getControlState,
  getSessionHistory,
  getTask,
  isShannonError,
  listToolGrants,
  mcpStatus,
  listSessions,
  listSessionFiles,
  listTasks,
  listenerStart,
  listenerStatus,
  listenerStop,
  listRemoteProfiles,
  onRemoteStatusChanged,
  pauseTask,
  providerStatus,
  readSessionFile,
  remoteStatus,
  resumeTask,
  revokeToolGrant,
  saveRemoteProfile,
  setProviderEndpoint,
  setProviderKey,
  setRemoteCredential,
  subscribeTask,
  submitTask,
  verifyRemoteProfile,
  type ApprovalView,
  type ConnectionState,
  type ListenerStatus,
  type ProviderStatus,
  type RemoteAuthState,
  type RemoteProfile,
  type RunView,
  type TaskEvent,
  type TaskHistory,
  type TaskStream,
  type Value,
  type VerifyReport,
} from "tauri-plugin-shannon-api";
import { invoke } from "@tauri-apps/api/core";

// ---- small DOM helpers -----------------------------------------------------------------------

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const shortTime = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : "");
const usd = (n: number | null | undefined) => (n == null ? "—" : n === 0 ? "$0" : `$${n.toFixed(n < 0.01 ? 5 : 4)}`);

function notice(text: string, kind: "warn" | "error" | "info" = "warn") {
  const n = $("notice");
  n.textContent = text;
  n.className = `notice ${kind}`;
  n.hidden = false;
}
const clearNotice = () => ($("notice").hidden = true);

// ---- links: outside the window, http(s) only -------------------------------------------------

/** The URL a link may open, or null: only http(s) leaves the app (never javascript:, file:, data:, tauri:). */
function outsideUrl(href: string): string | null {
  try {
    const url = new URL(href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** Every click on a link (an answer's citations, its sources) is taken from the window: an http(s) URL
 * opens in the system browser through tauri-plugin-opener (its capability scope is http(s) too), any
 * other is dropped. The window itself never navigates. */
function guardLink(e: MouseEvent) {
  const link = e.target instanceof Element ? e.target.closest("a") : null;
  if (!link) return;
  e.preventDefault();
  if (e.type === "auxclick" && e.button !== 1) return; // a right click opens nothing
  const url = outsideUrl(link.href);
  if (url) invoke("plugin:opener|open_url", { url }).catch((err) => notice(`Could not open the link: ${errorText(err)}`, "error"));
}
for (const type of ["click", "auxclick"] as const) window.addEventListener(type, guardLink, true);

// ---- pages -----------------------------------------------------------------------------------

type Page = "chat" | "history" | "keys" | "listener" | "cloud";

function showPage(page: Page) {
  for (const p of ["chat", "history", "keys", "listener", "cloud"] as Page[]) {
    $(`page-${p}`).hidden = p !== page;
    $(`nav-${p}`).classList.toggle("active", p === page);
  }
  if (page === "history") void refreshHistory();
  if (page === "keys") {
    void refreshProviders();
    void refreshGrants();
    void refreshMcp();
  }
  if (page === "listener") void refreshListener();
  if (page === "cloud") void refreshProfiles();
}

// ---- tools let through without asking (revocable) --------------------------------------------

async function refreshGrants() {
  const grants = await listToolGrants();
  const rows = grants.map((g) => {
    const revoke = el("button", { textContent: "Revoke" });
    revoke.onclick = async () => {
      await revokeToolGrant(g.tool, g.session_id ?? undefined);
      await refreshGrants();
    };
    return el("tr", {}, el("td", { textContent: g.tool }), el("td", { textContent: g.session_id ? "this session" : "always" }), el("td", { textContent: new Date(g.created_at).toLocaleString() }), el("td", {}, revoke));
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { className: "muted", textContent: "None: dangerous tools ask every time." })));
  $("grants-table").querySelector("tbody")!.replaceChildren(...rows);
}

// ---- MCP servers: their state, as the plugin configuration names them ------------------------

async function refreshMcp() {
  const servers = await mcpStatus();
  const rows = servers.map((m) =>
    el(
      "tr",
      {},
      el("td", { textContent: m.name }),
      el("td", { textContent: m.transport }),
      el("td", { className: m.state === "running" ? "ready" : m.state === "failed" ? "not-ready" : "", textContent: m.error ? `${m.state}: ${m.error}` : m.state.replace("_", " ") }),
      el("td", { textContent: m.tools.join(", ") || "—" }),
      el("td", { className: "num", textContent: String(m.restarts) }),
    ),
  );
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { className: "muted", textContent: "None configured." })));
  $("mcp-table").querySelector("tbody")!.replaceChildren(...rows);
}

// ---- providers and keys ----------------------------------------------------------------------

let providers: ProviderStatus[] = [];
const PROVIDER_PREF = "shannon-app.provider";

async function refreshProviders() {
  providers = await providerStatus();
  const chosen = $<HTMLSelectElement>("provider").value || localStorage.getItem(PROVIDER_PREF) || "demo";
  for (const id of ["provider", "key-provider"]) {
    const select = $<HTMLSelectElement>(id);
    const keep = select.value;
    // Search APIs take keys but answer no questions themselves.
    const list = id === "key-provider" ? providers.filter((p) => !p.offline_demo) : providers.filter((p) => !p.web_search);
    select.replaceChildren(
      ...list.map((p) => el("option", { value: p.provider, textContent: id === "provider" ? `${p.display_name}${p.ready ? "" : " (no key)"}` : p.display_name })),
    );
    select.value = id === "provider" ? chosen : keep || list[0]?.provider;
  }
  $("providers-table").querySelector("tbody")!.replaceChildren(
    ...providers.map((p) => {
      const remove = el("button", { className: "danger", textContent: "Delete" });
      remove.dataset.testid = `delete-${p.provider}`;
      remove.onclick = () => void deleteProvider(p);
      const row = el(
        "tr",
        {},
        el("td", {}, p.display_name),
        el("td", { className: p.ready ? "ready" : "not-ready", textContent: p.ready ? "ready" : p.reason ?? "not ready" }),
        el("td", {}, el("code", { textContent: p.masked_key ?? (p.requires_key ? "—" : "not needed") })),
        el("td", {}, el("code", { textContent: p.base_url ?? "" })),
        el("td", {}, p.is_configured ? remove : ""),
      );
      row.dataset.provider = p.provider;
      return row;
    }),
  );
}

async function saveKey(e: Event) {
  e.preventDefault();
  const provider = $<HTMLSelectElement>("key-provider").value;
  const key = $<HTMLInputElement>("key-value").value.trim();
  const baseUrl = $<HTMLInputElement>("key-base-url").value.trim();
  try {
    // The endpoint first: a key is bound to the endpoint it is stored for.
    if (baseUrl) await setProviderEndpoint(provider, baseUrl);
    if (key) await setProviderKey(provider, key);
    $<HTMLInputElement>("key-value").value = "";
    $<HTMLInputElement>("key-base-url").value = "";
    await refreshProviders();
    notice(`Saved ${provider}${key ? ": the key is stored encrypted and shown masked only" : ""}.`, "info");
  } catch (err) {
    notice(`Could not save: ${errorText(err)}`, "error");
  }
}

async function deleteProvider(p: ProviderStatus) {
  try {
    if (p.is_configured) await deleteProviderKey(p.provider);
    await setProviderEndpoint(p.provider, null);
    await refreshProviders();
    notice(`Removed the ${p.display_name} key.`, "info");
  } catch (err) {
    notice(`Could not delete: ${errorText(err)}`, "error");
  }
}

// ---- sessions --------------------------------------------------------------------------------

const SESSION_PREF = "shannon-app.session";
let sessionId: string | null = localStorage.getItem(SESSION_PREF);

async function refreshSessions() {
  const { sessions } = await listSessions(50);
  for (const s of sessions) sessionExecutors.set(s.session_id, s.executor);
  $("sessions").replaceChildren(
    ...sessions.map((s) => {
      const profile = profileOf(s.executor);
      const li = el(
        "li",
        { className: s.session_id === sessionId ? "active" : "" },
        el("span", { className: "title" }, ...(profile ? [remoteBadge(profile)] : []), s.title ?? s.latest_task_query ?? "New session"),
        el("span", { className: "meta", textContent: `${s.task_count} task${s.task_count === 1 ? "" : "s"} · ${shortTime(s.last_activity_at ?? s.created_at)}` }),
      );
      li.dataset.sessionId = s.session_id;
      li.onclick = () => void selectSession(s.session_id);
      return li;
    }),
  );
  renderTarget(); // the shown conversation may just have started on its backend
}

async function selectSession(id: string | null) {
  sessionId = id;
  if (id) localStorage.setItem(SESSION_PREF, id);
  else localStorage.removeItem(SESSION_PREF);
  for (const li of $("sessions").querySelectorAll<HTMLElement>("li")) li.classList.toggle("active", li.dataset.sessionId === id);
  streamLost = null;
  renderTarget();
  $("transcript").replaceChildren();
  void refreshFiles();
  if (!id) {
    $("transcript").append(el("p", { className: "muted", textContent: "A new session starts with your first question." }));
    return;
  }
  const history = await getSessionHistory(id);
  for (const t of history.tasks) renderStoredTurn(t);
  // A task still running in this session (e.g. after a page reload) streams on where it stopped.
  const live = history.tasks.find((t) => ["RUNNING", "QUEUED", "PAUSED"].includes(t.status.replace("TASK_STATUS_", "")));
  if (live) {
    const turn = turnOf(live.workflow_id)!;
    turn.dataset.executor = sessionExecutors.get(id) ?? "local";
    await watch(live.workflow_id, turn, true);
  }
}

// ---- research answers: numbered citations as links ---------------------------------------------

/** A source line of the engine's `## Sources` section: `[n] [title](url)`. */
const SOURCE_LINE = /^\[(\d+)\] \[(.*)\]\((https?:\/\/[^\s)]+)\)$/;

/** An answer as text, or, when it ends with the engine's sources section, with its `[n]` markers as
 * links to those sources and the section as a numbered list of links. Built from DOM nodes: the text
 * is never parsed as HTML, and only http(s) URLs become links. */
function renderAnswer(node: Element, text: string) {
  const at = text.search(/\n## Sources( consulted)?\n/);
  if (at < 0) {
    node.textContent = text;
    return;
  }
  const sources = new Map<number, { title: string; url: string }>();
  for (const line of text.slice(at).split("\n")) {
    const m = line.trim().match(SOURCE_LINE);
    if (m) sources.set(Number(m[1]), { title: m[2], url: m[3] });
  }
  const body = text.slice(0, at);
  const link = (url: string, props: Partial<HTMLAnchorElement>) => el("a", { href: url, target: "_blank", rel: "noopener noreferrer", ...props });
  const parts: (Node | string)[] = [];
  let last = 0;
  for (const m of body.matchAll(/\[(\d+)\]/g)) {
    const source = sources.get(Number(m[1]));
    if (!source) continue;
    parts.push(body.slice(last, m.index));
    parts.push(link(source.url, { className: "cite", title: source.title, textContent: `[${m[1]}]` }));
    last = m.index! + m[0].length;
  }
  parts.push(body.slice(last).trimEnd());
  const list = el(
    "ol",
    { className: "sources" },
    ...[...sources].map(([n, s]) => {
      const item = el("li", { value: n }, link(s.url, { textContent: s.title }));
      item.dataset.url = s.url;
      return item;
    }),
  );
  const heading = text.slice(at).includes("## Sources consulted") ? "Sources consulted" : "Sources";
  node.replaceChildren(...parts, el("div", { className: "sources-title", textContent: heading }), list);
}

// ---- the session's workspace files -----------------------------------------------------------

const kib = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);

async function refreshFiles(path = "") {
  const list = $("files");
  $("file-preview").hidden = true;
  if (!sessionId) {
    list.replaceChildren(el("li", { className: "dir", textContent: "No session yet." }));
    return;
  }
  const session = sessionId;
  const { files } = await listSessionFiles(session, path || undefined).catch(() => ({ files: [] }));
  if (session !== sessionId) return; // another session was opened meanwhile
  const rows = files.map((f) => {
    const item = el("li", { className: f.is_dir ? "dir" : "file", title: f.path }, el("span", { textContent: f.is_dir ? `${f.name}/` : f.name }), el("span", { className: "size", textContent: f.is_dir ? "" : kib(f.size_bytes) }));
    item.dataset.path = f.path;
    item.onclick = () => void (f.is_dir ? refreshFiles(f.path) : previewFile(f.path));
    return item;
  });
  if (path) {
    const up = el("li", { className: "file", title: "Up one folder", textContent: `↑ ${path}/` });
    up.onclick = () => void refreshFiles(path.split("/").slice(0, -1).join("/"));
    rows.unshift(up);
  }
  if (rows.length === 0) rows.push(el("li", { className: "dir", textContent: "No files yet: agents write here with file_write." }));
  list.replaceChildren(...rows);
}

async function previewFile(path: string) {
  if (!sessionId) return;
  const file = await readSessionFile(sessionId, path);
  const preview = $("file-preview");
  preview.textContent = file.base64 ? `(${file.content_type}, ${kib(file.size_bytes)}: binary)` : file.content;
  preview.dataset.path = path;
  preview.hidden = false;
}

// ---- chat: turns, streaming and control ------------------------------------------------------

function addTurn(taskId: string, query: string) {
  const turn = el("div", { className: "turn" }, el("div", { className: "q", textContent: query }), el("div", { className: "a" }), el("div", { className: "status" }));
  turn.dataset.taskId = taskId;
  $("transcript").querySelector("p.muted")?.remove();
  $("transcript").append(turn);
  return turn;
}

const turnOf = (taskId: string) => $("transcript").querySelector<HTMLElement>(`.turn[data-task-id="${CSS.escape(taskId)}"]`);

function renderStoredTurn(t: TaskHistory) {
  const turn = addTurn(t.workflow_id, t.query);
  const status = t.status.replace("TASK_STATUS_", "").toLowerCase();
  if (["running", "queued", "paused"].includes(status)) return; // its stream fills it in
  renderAnswer(turn.querySelector(".a")!, t.result ?? t.error_message ?? `(no answer: ${status})`);
  turn.querySelector(".status")!.textContent = `${status} · ${t.total_tokens} tokens · ${usd(t.total_cost_usd)}`;
}

type ControlView = "running" | "pausing" | "paused" | "cancelling" | "cancelled" | "completed" | "failed";

let current: { taskId: string; stream: TaskStream | null } | null = null;

function setControl(state: ControlView) {
  const pill = $("control-state");
  pill.textContent = state;
  pill.className = `pill ${state}`;
  const active = ["running", "pausing", "paused"].includes(state);
  $<HTMLButtonElement>("pause").disabled = state !== "running";
  $<HTMLButtonElement>("resume").disabled = state !== "paused" && state !== "pausing";
  $<HTMLButtonElement>("cancel").disabled = !active;
}

const CONTROL_EVENTS: Record<string, ControlView> = {
  WORKFLOW_STARTED: "running",
  WORKFLOW_PAUSING: "pausing",
  WORKFLOW_PAUSED: "paused",
  WORKFLOW_RESUMED: "running",
  WORKFLOW_CANCELLING: "cancelling",
  WORKFLOW_CANCELLED: "cancelled",
  WORKFLOW_COMPLETED: "completed",
  WORKFLOW_FAILED: "failed",
};

/** A line in the event log: a task event, one of a type this app does not know, or the app's own note. */
function logEvent(e: { type: string; message?: string | null }) {
  if (e.type === "LLM_PARTIAL" || e.type === "LLM_PROMPT" || e.type === "STREAM_END") return;
  const kind = e.type.startsWith("TOOL_") ? "tool" : e.type in CONTROL_EVENTS ? "control" : "";
  const item = el("li", { className: kind }, el("b", { textContent: e.type }), e.message ?? "");
  item.dataset.type = e.type;
  $("events").append(item);
  item.scrollIntoView({ block: "nearest" });
}

/** Each turn's run as a view model (`foldRun` from the plugin's JavaScript API). */
const runs = new WeakMap<HTMLElement, RunView>();

/** The tool an agent called last, as the run's view has it. */
function lastTool(view: RunView, agent: string | null | undefined): string | undefined {
  const tools = view.agents[agent ?? ""]?.tools ?? [];
  return tools[tools.length - 1]?.tool;
}

/** Renders one event of the watched task into its turn, the control bar and the event log. */
function render(turn: HTMLElement, e: TaskEvent) {
  // foldEvent is pure: it returns the next view (the previous one is left as it was).
  const view = foldEvent(runs.get(turn) ?? emptyRun(), e);
  runs.set(turn, view);
  noteStream(turn, e);
  const answer = turn.querySelector<HTMLElement>(".a")!;
  if (e.type === "LLM_PARTIAL") {
    answer.classList.add("streaming");
    $("transcript").scrollTop = $("transcript").scrollHeight;
  }
  answer.textContent = view.answer || (e.type === "ERROR_OCCURRED" ? (e.message ?? "failed") : answer.textContent);
  if (view.plan.length > 0) renderTeam(turn, view);
  if (e.type === "APPROVAL_REQUESTED" || e.type === "APPROVAL_DECISION") for (const a of view.approvals) renderApproval(turn, a);
  if (e.type in CONTROL_EVENTS) setControl(CONTROL_EVENTS[e.type]);
  if (e.type === "TOOL_OBSERVATION" && lastTool(view, e.agent_id)?.startsWith("file_")) void refreshFiles();
  logEvent(e);
  if (e.type === "STREAM_END") {
    answer.classList.remove("streaming");
    void finishTurn(turn);
  }
}

/** A question the task waits on (from the run's view): what it wants to do (its plan, or a tool call
 * with its arguments) and the answer buttons; once decided, what was decided. */
function renderApproval(turn: HTMLElement, a: ApprovalView) {
  const existing = turn.querySelector<HTMLElement>(`.approval[data-id="${CSS.escape(a.id)}"]`);
  if (existing) {
    if (a.status !== "pending" && existing.classList.contains("pending")) {
      existing.className = `approval ${a.status === "approved" ? "approved" : "denied"}`;
      existing.querySelector(".approval-buttons")?.replaceChildren(el("span", { textContent: a.feedback ? `${a.status}: ${a.feedback}` : a.status }));
    }
    return;
  }
  if (a.status !== "pending") return; // decided before this page saw it
  const card = el("div", { className: "approval pending" }, el("b", { textContent: a.message }));
  card.dataset.id = a.id;
  if (a.tool) {
    card.append(el("div", { className: "approval-tool", textContent: `${a.tool} ${JSON.stringify(a.arguments ?? {}, null, 2)}` }));
  } else if (a.steps) {
    card.append(el("ol", {}, ...a.steps.map((name) => el("li", { textContent: name }))));
  }
  const workflowId = turn.dataset.taskId!;
  const answer = (act: () => Promise<unknown>) => async () => {
    card.querySelectorAll("button").forEach((b) => ((b as HTMLButtonElement).disabled = true));
    try {
      await act();
    } catch (err) {
      notice(String((err as Error).message ?? err));
    }
  };
  const yes = el("button", { className: "primary approve", textContent: "Approve" });
  yes.onclick = answer(() => approve(workflowId, a.id));
  const no = el("button", { className: "deny", textContent: "Deny" });
  no.onclick = answer(() => deny(workflowId, a.id, "Denied in the app"));
  const buttons = el("div", { className: "approval-buttons" }, yes, no);
  if (a.kind === "tool") {
    const session = el("button", { className: "approve-session", textContent: "Allow for this session" });
    session.onclick = answer(() => approve(workflowId, a.id, { scope: "session" }));
    buttons.append(session);
  }
  card.append(buttons);
  turn.querySelector(".a")!.before(card);
  $("transcript").scrollTop = $("transcript").scrollHeight;
}

const STEP_MARK = { pending: "○", running: "◐", done: "●", failed: "✕" } as const;

/** A team run: its plan with each step's status and agent, and what each agent is writing. */
function renderTeam(turn: HTMLElement, view: RunView) {
  let team = turn.querySelector<HTMLElement>(".team");
  if (!team) {
    team = el("div", { className: "team" });
    turn.querySelector(".a")!.before(team);
  }
  const steps = view.plan.map((s) => {
    const agent = s.agent ? view.agents[s.agent] : undefined;
    const line = el("li", { className: `step ${s.status}` }, el("b", { textContent: `${STEP_MARK[s.status]} ${s.name}` }));
    line.dataset.status = s.status;
    if (agent) line.append(el("span", { className: "agent", textContent: ` — ${agent.id}${agent.role ? ` (${agent.role})` : ""}` }), el("div", { className: "agent-text", textContent: agent.text.slice(-300) }));
    return line;
  });
  team.replaceChildren(el("div", { className: "team-title", textContent: `Plan — ${view.plan.length} steps` }), el("ol", {}, ...steps));
}

async function finishTurn(turn: HTMLElement) {
  const task = await getTask(turn.dataset.taskId!);
  if (task.result) renderAnswer(turn.querySelector(".a")!, task.result);
  $("transcript").scrollTop = $("transcript").scrollHeight;
  void refreshFiles();
  const status = task.status.replace("TASK_STATUS_", "").toLowerCase();
  const usage = task.usage;
  turn.querySelector(".status")!.textContent = `${status} · ${task.model_used ?? "—"} · ${usage?.total_tokens ?? 0} tokens · ${usd(usage?.estimated_cost)}`;
  void refreshSessions();
}

/** Shows a task in the control bar and streams its events (resuming after a reload by itself). */
async function watch(task_id: string, turn: HTMLElement, resumed = false) {
  current?.stream?.close();
  const mine: NonNullable<typeof current> = { taskId: task_id, stream: null };
  current = mine;
  $("task-panel").hidden = false;
  $("task-id").textContent = task_id;
  $("events").replaceChildren();
  const control = await getControlState(task_id);
  setControl(control.is_cancelled ? "cancelling" : control.is_paused ? "paused" : "running");
  if (resumed) {
    // Not a task event: a note that the stream is replayed. Every delta is replayable, so the answer
    // is rebuilt whole instead of continuing mid-sentence.
    logEvent({ type: "STREAM_RESUMED", message: "after a page reload: the answer so far, then live" });
    turn.querySelector(".a")!.textContent = "";
    turn.querySelector(".team")?.remove();
  }
  runs.delete(turn); // rebuilt from the events the subscription delivers
  // The page keeps no events across a reload, so it does not pass keptEarlierEvents: the task is
  // replayed from its start and the answer rebuilt whole.
  const stream = await subscribeTask(task_id, { onEvent: (e) => render(turn, e), onUnknownEvent: logEvent });
  mine.stream = stream;
  if (current !== mine) stream.close(); // another task was opened meanwhile
}

async function submit(e: Event) {
  e.preventDefault();
  clearNotice();
  const query = $<HTMLTextAreaElement>("prompt").value.trim();
  const provider = $<HTMLSelectElement>("provider").value;
  const picked = $<HTMLSelectElement>("mode").value;
  // The picker shows a started conversation's backend, so this is also right for a follow-up.
  const target = $<HTMLSelectElement>("target").value || "local";
  const remote = target !== "local";
  if (!query) return;
  if (!remote) {
    // A cloud answers with the models it has configured: the local keys do not matter there.
    localStorage.setItem(PROVIDER_PREF, provider);
    await refreshProviders();
    const status = providers.find((p) => p.provider === provider);
    if (!status?.ready) return needsKey(provider, status?.reason ?? undefined);
  }
  try {
    const asked: Record<string, Value> = {};
    // The cloud's approval requests carry no id this app could answer, so it never asks there.
    if (!remote && $<HTMLInputElement>("ask-first").checked) asked.require_approval = true;
    // Research is a team's work on the web: the standard preset (coverage loop, answer checked).
    if (picked === "research") Object.assign(asked, { force_research: true, research_strategy: "standard" });
    const context = Object.keys(asked).length ? asked : undefined;
    const mode = picked === "research" ? "complex" : picked;
    let sent: { task_id: string; session_id: string; executor?: string };
    if (remote) {
      // A cloud answers with its own models; the target is the profile (a started session's own).
      sent = await submitTask({ query, session_id: sessionId, mode, context, target });
    } else {
      // No target: a new session takes the default one, which this app leaves at this device.
      const { task_id, session_id } = await submitTask({ query, session_id: sessionId, provider_override: provider, mode, context });
      sent = { task_id, session_id, executor: "local" };
    }
    const { task_id, session_id, executor = "local" } = sent;
    $<HTMLTextAreaElement>("prompt").value = "";
    sessionExecutors.set(session_id, executor);
    if (session_id !== sessionId) {
      // A new session started with this task: remember it without reloading the transcript.
      sessionId = session_id;
      localStorage.setItem(SESSION_PREF, session_id);
    }
    await refreshSessions();
    const turn = turnOf(task_id) ?? addTurn(task_id, query);
    turn.dataset.executor = executor;
    await watch(task_id, turn);
  } catch (err) {
    if (isShannonError(err, "provider_not_ready")) return needsKey(provider, err.message);
    notice(`Could not submit: ${errorText(err)}`, "error");
  }
}

/** The chosen provider cannot take a task: say why and open the keys page on it. */
function needsKey(provider: string, reason?: string) {
  const name = providers.find((p) => p.provider === provider)?.display_name ?? provider;
  showPage("keys");
  $<HTMLSelectElement>("key-provider").value = provider;
  notice(`${name} needs an API key before it can answer${reason ? ` (${reason})` : ""}. Add one below, or pick the offline demo provider.`);
}

async function control(action: typeof pauseTask) {
  if (!current) return;
  try {
    const r = await action(current.taskId);
    if (!r.success) notice(r.message, "info"); // e.g. cancelling a task that has just finished
  } catch (err) {
    notice(errorText(err), "error");
  }
}

// ---- Shannon cloud: profiles, where a conversation runs, the cloud's state --------------------

/** The profile in an `executor` (`local` or `remote:<profile id>`), or null for this device. */
const profileOf = (executor: string | undefined) => (executor?.startsWith("remote:") ? executor.slice("remote:".length) : null);

let profiles: RemoteProfile[] = [];
/** Each profile's connection state: from remoteStatus() when loaded, then from each change event. */
const profileStates = new Map<string, ConnectionState>();
/** Where each listed session runs: a started conversation stays on its backend (the plugin refuses a switch). */
const sessionExecutors = new Map<string, string>();
/** The profile whose stream (the watched task's) said the connection was lost, until it is back. */
let streamLost: string | null = null;
const TARGET_PREF = "shannon-app.target";

const profileName = (id: string) => profiles.find((p) => p.id === id)?.name ?? id;
function profileHost(id: string) {
  const url = profiles.find((p) => p.id === id)?.base_url;
  try {
    return url ? new URL(url).host : id;
  } catch {
    return url;
  }
}
const remoteBadge = (profile: string) =>
  el("span", { className: "badge remote", title: `Runs on Shannon cloud “${profileName(profile)}”`, textContent: `☁ ${profileName(profile)}` });

async function refreshProfiles() {
  try {
    const [status, list] = await Promise.all([remoteStatus(), listRemoteProfiles()]);
    // Remote mode switched off in the configuration: every conversation runs here.
    profiles = status.enabled ? list : [];
    for (const p of status.profiles) profileStates.set(p.profile_id, p.state);
  } catch (err) {
    profiles = [];
    notice(`Shannon cloud profiles: ${errorText(err)}`, "error");
  }
  renderProfiles();
  renderTarget();
}

const STATE_TEXT: Record<ConnectionState, string> = { unknown: "not contacted yet", online: "online", offline: "offline", auth_failed: "key refused" };

function renderProfiles() {
  const rows = profiles.map((p) => {
    const state = profileStates.get(p.id) ?? p.state;
    const verify = el("button", { textContent: "Verify" });
    verify.dataset.testid = `verify-${p.id}`;
    verify.onclick = () => void verifyProfile(p);
    const remove = el("button", { className: "danger", textContent: "Delete" });
    remove.dataset.testid = `delete-profile-${p.id}`;
    remove.onclick = () => void removeProfile(p);
    const row = el(
      "tr",
      {},
      el("td", {}, p.name),
      el("td", {}, el("code", { textContent: p.base_url })),
      el("td", { textContent: p.has_credential ? "stored" : p.auth === "none" ? "not needed" : "none" }),
      el("td", { className: `state-${state}`, textContent: STATE_TEXT[state] }),
      el("td", { className: "actions" }, verify, remove),
    );
    row.dataset.profile = p.id;
    return row;
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { className: "muted", colSpan: 5, textContent: "No profiles: every conversation runs on this device." })));
  $("profiles-table").querySelector("tbody")!.replaceChildren(...rows);
}

async function saveProfile(e: Event) {
  e.preventDefault();
  const name = $<HTMLInputElement>("profile-name").value.trim();
  const baseUrl = $<HTMLInputElement>("profile-url").value.trim();
  const key = $<HTMLInputElement>("profile-key").value.trim();
  // The id comes from the name, so saving the same name again replaces that profile.
  const slug = name.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64);
  try {
    const saved = await saveRemoteProfile({ id: slug && slug !== "local" ? slug : null, name, base_url: baseUrl, auth: "api_key" });
    // The key after the profile: it is sealed for the endpoint the profile names.
    if (key) await setRemoteCredential(saved.id, { kind: "api_key", api_key: key });
    for (const id of ["profile-name", "profile-url", "profile-key"]) $<HTMLInputElement>(id).value = "";
    await refreshProfiles();
    notice(`Saved “${saved.name}”${key ? ": its key is stored encrypted and never shown again" : ""}. Verify it to check the server and the key.`, "info");
  } catch (err) {
    notice(`Could not save the profile: ${errorText(err)}`, "error");
  }
}

async function removeProfile(p: RemoteProfile) {
  try {
    await deleteRemoteProfile(p.id);
    if (localStorage.getItem(TARGET_PREF) === p.id) localStorage.removeItem(TARGET_PREF);
    if ($("verify-report").dataset.profile === p.id) $("verify-report").hidden = true;
    await refreshProfiles();
    notice(`Deleted “${p.name}” and its key.`, "info");
  } catch (err) {
    notice(`Could not delete the profile: ${errorText(err)}`, "error");
  }
}

/** One line of the verify report; `data-field` names it for the e2e. */
function field(name: string, label: string, value: string, tone: "good" | "bad" | "" = ""): Node[] {
  const dd = el("dd", { className: tone, textContent: value });
  dd.dataset.field = name;
  return [el("dt", { textContent: label }), dd];
}

const AUTH_TEXT: Record<RemoteAuthState, string> = {
  ok: "ok",
  disabled: "off on this server: everyone who reaches it shares one history",
  invalid: "the key was refused",
  missing: "no key stored",
  unknown: "unknown (not reached)",
};

/** Probes the profile's server afresh and shows what it said, or what went wrong. */
async function verifyProfile(p: RemoteProfile) {
  const report = $("verify-report");
  report.hidden = false;
  report.dataset.profile = p.id;
  $("verify-title").textContent = `Checking ${p.name}…`;
  $("verify-fields").replaceChildren();
  let r: VerifyReport;
  try {
    r = await verifyRemoteProfile(p.id, true);
  } catch (err) {
    $("verify-title").textContent = `${p.name}: could not check`;
    $("verify-fields").replaceChildren(...field("problem", "Problem", errorText(err), "bad"));
    return;
  }
  $("verify-title").textContent = `${p.name} (${r.host}), checked ${shortTime(r.checked_at)}`;
  const lines = [
    field("reachable", "Reachable", r.reachable ? (r.ready ? "yes, ready" : "yes, not ready") : "no", r.reachable ? "good" : "bad"),
    field("auth", "Auth", AUTH_TEXT[r.auth], r.auth === "ok" ? "good" : r.auth === "disabled" ? "" : "bad"),
    field("user", "User", r.username ?? r.user_id ?? "—"),
    field("tier", "Tier", r.tier ?? "—"),
    field("latency", "Latency", r.latency_ms == null ? "—" : `${r.latency_ms} ms`),
    field("models", "Models", r.models.join(", ") || "—"),
  ];
  if (r.problem) lines.push(field("problem", "Problem", r.problem, "bad"));
  $("verify-fields").replaceChildren(...lines.flat());
}

/** The composer's target: a started conversation shows where it runs, fixed; a new one takes the choice. */
function renderTarget() {
  const select = $<HTMLSelectElement>("target");
  const executor = sessionId ? sessionExecutors.get(sessionId) : undefined;
  const fixed = executor === undefined ? null : (profileOf(executor) ?? "local");
  const wanted = fixed ?? localStorage.getItem(TARGET_PREF) ?? "local";
  const ids = profiles.map((p) => p.id);
  if (fixed && fixed !== "local" && !ids.includes(fixed)) ids.push(fixed); // its profile was deleted since
  const suffix = (id: string) => {
    const state = profileStates.get(id);
    return state === "offline" ? " (offline)" : state === "auth_failed" ? " (key refused)" : "";
  };
  select.replaceChildren(
    el("option", { value: "local", textContent: "This device" }),
    ...ids.map((id) => el("option", { value: id, textContent: `☁ ${profileName(id)}${suffix(id)}` })),
  );
  select.value = ids.includes(wanted) ? wanted : "local";
  select.disabled = fixed !== null;
  select.title = fixed ? "This conversation runs there; start a new session to choose" : "Where a new conversation runs";
  renderRemoteNotes();
}

function chooseTarget() {
  const target = $<HTMLSelectElement>("target").value;
  localStorage.setItem(TARGET_PREF, target);
  renderRemoteNotes();
  // Learn the chosen cloud's state now, in the background (a cached probe), not at the first question.
  if (target !== "local" && (profileStates.get(target) ?? "unknown") === "unknown") void verifyRemoteProfile(target).catch(() => {});
}

/** Near the composer, for a cloud target: whether it can be reached, and that it never asks before a tool runs. */
function renderRemoteNotes() {
  const target = $<HTMLSelectElement>("target").value;
  const profile = target && target !== "local" ? target : null;
  // The cloud answers with its own models and asks nothing this app could answer.
  $<HTMLSelectElement>("provider").disabled = profile !== null;
  $<HTMLInputElement>("ask-first").disabled = profile !== null;
  const note = $("remote-note");
  const offline = $("remote-offline");
  note.hidden = offline.hidden = profile === null;
  if (profile === null) return;
  const where = `Shannon cloud “${profileName(profile)}” (${profileHost(profile)})`;
  note.textContent = `Runs on ${where} with its models. The cloud has no per-tool-call approval: its tools run without asking you.`;
  const state = profileStates.get(profile);
  if (state === "offline" || streamLost === profile) offline.textContent = `${where} is offline. A running answer continues when it is back.`;
  else if (state === "auth_failed") offline.textContent = `${where} refused the API key: update it on the Shannon cloud page.`;
  else offline.hidden = true;
}

/** A cloud task's stream says when the connection was lost (a WARNING) and, by going on, that it is back. */
function noteStream(turn: HTMLElement, e: TaskEvent) {
  const profile = profileOf(turn.dataset.executor);
  if (!profile) return;
  if (e.type === "WARNING" && e.payload?.reason === "remote_connection_lost") streamLost = profile;
  else if (streamLost === profile) streamLost = null;
  else return;
  renderRemoteNotes();
}

// ---- history ---------------------------------------------------------------------------------

/** Exports the whole history to the folder typed in, with a progress bar fed by `history-progress`. */
async function exportAll(e: Event) {
  e.preventDefault();
  const dir = $<HTMLInputElement>("export-dir").value.trim();
  if (!dir) return;
  const bar = $<HTMLProgressElement>("export-progress");
  Object.assign(bar, { hidden: false, value: 0, max: 1 });
  $("export-result").textContent = "Exporting…";
  try {
    const r = await exportHistory(dir);
    Object.assign(bar, { max: Math.max(1, r.counts.tasks), value: r.counts.tasks });
    $("export-result").textContent =
      `Exported ${r.counts.sessions} conversations, ${r.counts.tasks} tasks and ${r.counts.events} events to ${r.dir}`;
  } catch (err) {
    bar.hidden = true;
    $("export-result").textContent = "";
    notice(`Export: ${errorText(err)}`, "error");
  }
}

async function refreshHistory() {
  const { tasks } = await listTasks({ limit: 50 });
  // The model is per task detail; fetch them together.
  const details = await Promise.all(tasks.map((t) => getTask(t.task_id).catch(() => null)));
  $("history-empty").hidden = tasks.length > 0;
  $("history-table").querySelector("tbody")!.replaceChildren(
    ...tasks.map((t, i) => {
      const status = t.status.replace("TASK_STATUS_", "");
      const profile = profileOf(t.executor);
      const row = el(
        "tr",
        {},
        el("td", { textContent: shortTime(t.created_at) }),
        el("td", { className: "query", title: t.query }, ...(profile ? [remoteBadge(profile)] : []), t.query),
        el("td", { className: `status status-${status}`, textContent: status }),
        el("td", {}, el("code", { textContent: details[i]?.model_used ?? "—" })),
        el("td", { className: "num", textContent: String(t.total_token_usage?.total_tokens ?? 0) }),
        el("td", { className: "num", textContent: usd(t.total_token_usage?.cost_usd) }),
      );
      row.dataset.taskId = t.task_id;
      return row;
    }),
  );
}

// ---- HTTP listener ---------------------------------------------------------------------------

function showListener(s: ListenerStatus) {
  $<HTMLInputElement>("listener-toggle").checked = s.running;
  $("listener-label").textContent = s.running ? "On" : "Off";
  $("listener-details").hidden = !s.running;
  $("listener-url").textContent = s.url ?? "";
  $("listener-token").textContent = s.token ?? "";
  $("listener-token-file").textContent = s.token_file ?? "";
  if (s.running && s.url && s.token) void checkListener(s.url, s.token);
}

/** Calls the listener from this webview (its real Origin and CORS path) and shows who it answers as. */
async function checkListener(url: string, token: string) {
  const out = $("listener-check");
  out.textContent = "checking…";
  try {
    const res = await fetch(`${url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    out.textContent = res.ok ? `answers as ${body.username}` : `HTTP ${res.status}: ${body.error ?? ""}`;
  } catch (err) {
    out.textContent = `unreachable: ${errorText(err)}`;
  }
}

const refreshListener = async () => showListener(await listenerStatus());

async function toggleListener() {
  const on = $<HTMLInputElement>("listener-toggle").checked;
  try {
    if (on) showListener(await listenerStart());
    else {
      await listenerStop();
      await refreshListener();
    }
  } catch (err) {
    notice(`Listener: ${errorText(err)}`, "error");
    await refreshListener();
  }
}

// ---- start-up --------------------------------------------------------------------------------

async function start() {
  for (const b of $("nav").querySelectorAll<HTMLButtonElement>("button")) b.onclick = () => showPage(b.dataset.page as Page);
  $("composer").onsubmit = submit;
  $("prompt").onkeydown = (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $<HTMLFormElement>("composer").requestSubmit();
  };
  $("new-session").onclick = () => void selectSession(null);
  $("pause").onclick = () => void control(pauseTask);
  $("resume").onclick = () => void control(resumeTask);
  $("cancel").onclick = () => void control(cancelTask);
  $("key-form").onsubmit = saveKey;
  $("history-refresh").onclick = () => void refreshHistory();
  $("export-form").onsubmit = (e) => void exportAll(e);
  await onHistoryProgress((p) => {
    if (p.operation !== "export") return;
    Object.assign($<HTMLProgressElement>("export-progress"), { max: Math.max(1, p.total), value: p.done });
  });
  $("listener-toggle").onchange = () => void toggleListener();
  $("profile-form").onsubmit = saveProfile;
  $("target").onchange = chooseTarget;
  await onRemoteStatusChanged((change) => {
    profileStates.set(change.profile_id, change.state);
    if (change.state === "online" && streamLost === change.profile_id) streamLost = null;
    renderProfiles();
    renderTarget();
  });
  await events.taskStatusChanged.listen(() => {
    if (!$("page-history").hidden) void refreshHistory();
  });
  await events.providerKeysChanged.listen(() => void refreshProviders());

  await refreshProviders();
  await refreshProfiles();
  await refreshSessions();
  try {
    await selectSession(sessionId);
  } catch {
    await selectSession(null); // the remembered session was deleted
  }
  document.body.dataset.ready = "true";
}

start().catch((err) => notice(`Start-up failed: ${errorText(err)}`, "error"));
