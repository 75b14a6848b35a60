// foldRun: a task's event stream as a view model, so an app renders a run (one agent or a team) in a
// few lines: the plan's steps, each agent's live text and tools, the answer, approvals waiting on the
// user, a research plan under review, errors, sources, usage. A pure reducer: `foldEvent(view, e)`
// returns a new view and never changes `view`; what the event did not touch keeps its identity (an
// untouched agent or plan step is the same object), so React's memo and Svelte/Vue's diffing skip it.
import type { ProgressPayload, TaskEvent, Value } from "./bindings.js";

export type RunState = "running" | "paused" | "completed" | "failed" | "cancelled";

export interface PlanStep {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly dependsOn: readonly string[];
  readonly status: "pending" | "running" | "done" | "failed";
  /** The agent working on it, once one started. */
  readonly agent?: string;
}

export interface ToolUse {
  readonly tool: string;
  /** Unknown until its observation arrives. */
  readonly ok?: boolean;
  readonly output?: string;
}

export interface AgentView {
  readonly id: string;
  /** What it streamed (its deltas, in order). */
  readonly text: string;
  /** `waiting`: a supervisor's agent whose dependencies are not done yet. */
  readonly status: "waiting" | "running" | "done" | "failed";
  /** Its role in a supervisor's team. */
  readonly role?: string;
  readonly tools: readonly ToolUse[];
  readonly subtask?: string;
  readonly error?: string;
}

/** A question the task waits on (APPROVAL_REQUESTED), until APPROVAL_DECISION settles it. */
export interface ApprovalView {
  /** Pass it to `approve`/`deny`. */
  readonly id: string;
  /** `tool` for a tool call, `plan` for a plan, as the engine says. */
  readonly kind: string;
  /** The tool it wants to call (kind `tool`), with its arguments. */
  readonly tool?: string;
  readonly arguments?: Value;
  /** The plan's step names (kind `plan`). */
  readonly steps?: readonly string[];
  /** Why it asks (a dangerous tool, the plan's complexity, the task asked). */
  readonly reason?: string;
  /** What the user is asked, without the engine's trailing `(id=…)`. */
  readonly message: string;
  readonly agent?: string;
  readonly expiresAt?: string;
  readonly status: "pending" | "approved" | "denied" | "expired";
  readonly feedback?: string;
}

/** A research plan under review (RESEARCH_PLAN_READY … RESEARCH_PLAN_APPROVED). */
export interface ResearchReviewView {
  readonly plan: string;
  readonly round: number;
  /** Pass it when answering, so a plan the user has not seen is not approved. */
  readonly version: number;
  /** `revising`: the user gave feedback and the planner is writing the next version. */
  readonly status: "awaiting_review" | "revising" | "approved";
  /** The conversation so far: each plan version and each piece of feedback. */
  readonly history: readonly { readonly from: "planner" | "user"; readonly text: string; readonly round: number }[];
}

export interface RunError {
  readonly type: "ERROR_OCCURRED" | "WORKFLOW_FAILED" | "AGENT_FAILED" | "TOOL_ERROR";
  readonly message: string;
  readonly agent?: string;
  readonly tool?: string;
}

/** A source, as the engine reports it in `metadata.citations` (web tools' results, ranked). */
export interface Citation {
  readonly url: string;
  readonly title: string;
  readonly source?: string;
  readonly credibility_score?: number;
  readonly quality_score?: number;
}

export interface RunUsage {
  /** The task's total once known (its final answer says), else the sum of its model calls so far. */
  readonly tokens: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Summed over model calls that priced themselves; undefined when none did. */
  readonly costUsd?: number;
}

export interface RunView {
  readonly state: RunState;
  /** Empty for single-agent runs. */
  readonly plan: readonly PlanStep[];
  /** By agent id, in order of first appearance (`Object.values` keeps it). */
  readonly agents: Readonly<Record<string, AgentView>>;
  /** The final answer once given (`final_output`), else the single agent's text so far. */
  readonly answer: string;
  /** Same as `usage.tokens` (kept for existing callers). */
  readonly tokens: number;
  readonly usage: RunUsage;
  readonly model?: string;
  /** Why the run failed (WORKFLOW_FAILED). */
  readonly error?: string;
  /** Every error the run reported, in order. */
  readonly errors: readonly RunError[];
  /** Every approval asked for, in order; `pendingApprovals(view)` for those still waiting. */
  readonly approvals: readonly ApprovalView[];
  readonly review?: ResearchReviewView;
  /** The run's sources. The engine reports them in the task's `metadata.citations`, not in events: `foldTask` adds them. */
  readonly citations: readonly Citation[];
  /** The resume position after the last event folded in. */
  readonly lastStreamId?: string;
}

export const emptyRun = (): RunView => ({
  state: "running",
  plan: [],
  agents: {},
  answer: "",
  tokens: 0,
  usage: { tokens: 0, inputTokens: 0, outputTokens: 0 },
  errors: [],
  approvals: [],
  citations: [],
});

export const pendingApprovals = (view: RunView) => view.approvals.filter((a) => a.status === "pending");

// Task metadata is untyped JSON (`Value`): read through these.
type Fields = { readonly [key: string]: Value | undefined };
const fields = (v: Value | null | undefined): Fields => (v && typeof v === "object" && !Array.isArray(v) ? v : {});
const str = (v: Value | undefined): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: Value | undefined): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
/** An optional field of a typed payload: absent and null alike become undefined. */
const opt = <T>(v: T | null | undefined): T | undefined => v ?? undefined;

/** The citations in a task's `metadata` (or any value with a `citations` array), typed; malformed entries skipped. */
export function citationsFrom(metadata: Value | null | undefined): Citation[] {
  const list = fields(metadata).citations;
  if (!Array.isArray(list)) return [];
  return list.flatMap((c) => {
    const f = fields(c);
    const url = str(f.url);
    if (!url) return [];
    const cite: Citation = { url, title: str(f.title) ?? url };
    const [source, credibility, quality] = [str(f.source), num(f.credibility_score), num(f.quality_score)];
    return [{ ...cite, ...(source ? { source } : {}), ...(credibility !== undefined ? { credibility_score: credibility } : {}), ...(quality !== undefined ? { quality_score: quality } : {}) }];
  });
}

/** Agents that are the run's plumbing, not a team member. */
const SYSTEM_AGENTS = new Set(["orchestrator", "planner", "decompose", "final_output"]);

type Draft = { -readonly [K in keyof RunView]: RunView[K] };

const newAgent = (id: string): AgentView => ({ id, text: "", status: "running", tools: [] });

/** Replaces one agent (created if new) with `change(agent)`, copying only the agents map. */
function updateAgent(d: Draft, id: string, change: (a: AgentView) => AgentView) {
  const before = d.agents[id] ?? newAgent(id);
  const after = change(before);
  if (after !== before || !(id in d.agents)) d.agents = { ...d.agents, [id]: after };
}

/** Replaces one plan step, copying only the plan array. */
function updateStep(d: Draft, id: string | undefined, change: (s: PlanStep) => PlanStep) {
  const i = id === undefined ? -1 : d.plan.findIndex((s) => s.id === id);
  if (i < 0) return;
  const after = change(d.plan[i]);
  if (after !== d.plan[i]) d.plan = d.plan.map((s, j) => (j === i ? after : s));
}

function updateApproval(d: Draft, id: string, change: (a: ApprovalView) => ApprovalView) {
  d.approvals = d.approvals.map((a) => (a.id === id ? change(a) : a));
}

/** A supervisor's revised plan keeps what its steps already did (and their identity when unchanged). */
function newPlan(before: readonly PlanStep[], p: ProgressPayload | null | undefined): readonly PlanStep[] {
  if (!p?.plan) return before;
  const deps = p.deps ?? [];
  const was = new Map(before.map((s) => [s.id, s]));
  return p.plan.map((raw) => {
    const old = was.get(raw.id);
    const step: PlanStep = {
      id: raw.id,
      name: raw.name,
      type: raw.type,
      dependsOn: deps.filter((d) => d.to === raw.id).map((d) => d.from),
      status: old?.status ?? "pending",
      ...(old?.agent ? { agent: old.agent } : {}),
    };
    const same = old && old.name === step.name && old.type === step.type && old.dependsOn.join() === step.dependsOn.join();
    return same ? old : step;
  });
}

/** Adds an error; the engine reports a failure as ERROR_OCCURRED and then AGENT_FAILED or WORKFLOW_FAILED
 * with the same message: the second names it better and replaces the first. */
function addError(d: Draft, error: RunError) {
  const prev = d.errors[d.errors.length - 1];
  const restated = prev?.type === "ERROR_OCCURRED" && error.type !== "TOOL_ERROR" && prev.message === error.message && (error.type === "WORKFLOW_FAILED" || prev.agent === error.agent);
  d.errors = [...(restated ? d.errors.slice(0, -1) : d.errors), error];
}

const approvalMessage = (text: string | null | undefined) => (text ?? "Needs your approval").replace(/ \(id=[^)]*\)$/, "");

/** Where an event sits in the stream: a delta after the stored event whose seq it carries. */
const position = (e: TaskEvent): [number, number] => {
  const m = e.stream_id?.match(/^(\d+)-(\d+)$/);
  return m ? [Number(m[1]), Number(m[2])] : [e.seq, 0];
};

/** True when `e` comes after the resume point `last` (so an overlap of replay and live folds once). */
function isNew(e: TaskEvent, last: string | undefined): boolean {
  if (last === undefined) return true;
  const [s, n] = position(e);
  const [ls, ln = "0"] = last.split("-");
  return s > Number(ls) || (s === Number(ls) && n > Number(ln));
}

/** Folds one event into the view: a new view (what changed is new, the rest shared), or `view` itself for events that change nothing. */
export function foldEvent(view: RunView, e: TaskEvent): RunView {
  // Keep-alives change nothing; an event at or before the last folded one was folded already.
  if (e.type === "HEARTBEAT" || e.type === "PING" || !isNew(e, view.lastStreamId)) return view;
  const d: Draft = { ...view, lastStreamId: e.stream_id ?? String(e.seq) };
  const who = e.agent_id ?? "";
  // Each case reads its event's own payload type (the union narrows on `type`). Payloads are read with
  // `?.` even where the type says present: a stored event from an older engine may lack one.
  switch (e.type) {
    case "PROGRESS":
      d.plan = newPlan(d.plan, e.payload);
      break;
    case "TEAM_RECRUITED": {
      // Recruited agents wait until they start.
      const fresh = !d.agents[who];
      const role = opt(e.payload?.role);
      updateAgent(d, who, (a) => ({ ...a, status: fresh ? "waiting" : a.status, role: role ?? a.role }));
      break;
    }
    case "ROLE_ASSIGNED": {
      // A role-mode run names the role itself as the agent: not a team member of its own.
      const role = opt(e.payload?.role);
      if (who !== role) updateAgent(d, who, (a) => (a.role === role ? a : { ...a, role }));
      break;
    }
    case "WAITING":
      updateAgent(d, who, (a) => (a.status === "waiting" ? a : { ...a, status: "waiting" }));
      break;
    case "AGENT_STARTED": {
      const subtask = opt(e.payload?.subtask_id);
      updateAgent(d, who, (a) => ({ ...a, status: "running", subtask }));
      updateStep(d, subtask, (s) => ({ ...s, status: "running", agent: who }));
      break;
    }
    case "AGENT_COMPLETED":
      updateAgent(d, who, (a) => ({ ...a, status: "done" }));
      updateStep(d, d.agents[who].subtask ?? opt(e.payload?.subtask_id), (s) => ({ ...s, status: "done" }));
      break;
    case "AGENT_FAILED": {
      const message = e.message ?? "agent failed";
      updateAgent(d, who, (a) => ({ ...a, status: "failed", error: e.message ?? undefined }));
      updateStep(d, d.agents[who].subtask ?? opt(e.payload?.subtask_id), (s) => ({ ...s, status: "failed" }));
      addError(d, { type: "AGENT_FAILED", message, agent: who });
      break;
    }
    case "ERROR_OCCURRED":
      addError(d, { type: "ERROR_OCCURRED", message: e.message ?? opt(e.payload?.error) ?? "error", ...(who ? { agent: who } : {}) });
      break;
    case "TOOL_ERROR": {
      const tool = opt(e.payload?.tool);
      addError(d, { type: "TOOL_ERROR", message: opt(e.payload?.error) ?? e.message ?? "tool failed", agent: who, ...(tool ? { tool } : {}) });
      break;
    }
    case "LLM_PROMPT":
      // A later call of the same agent (after a tool) continues its text below.
      if (!SYSTEM_AGENTS.has(who) && d.agents[who]?.text) updateAgent(d, who, (a) => ({ ...a, text: `${a.text}\n\n` }));
      break;
    case "LLM_PARTIAL":
      if (!SYSTEM_AGENTS.has(who) && e.message) updateAgent(d, who, (a) => ({ ...a, text: a.text + e.message }));
      break;
    case "LLM_OUTPUT": {
      const u = d.usage;
      const p = e.payload;
      if (who === "final_output") {
        // The task's totals: they replace the running sums.
        d.answer = e.message ?? "";
        d.model = opt(p?.model_used) ?? d.model;
        d.usage = { ...u, tokens: opt(p?.tokens_used) ?? u.tokens, inputTokens: opt(p?.input_tokens) ?? u.inputTokens, outputTokens: opt(p?.output_tokens) ?? u.outputTokens };
      } else if (p?.tokens_used != null || p?.cost_usd != null) {
        const cost = opt(p.cost_usd);
        d.usage = {
          tokens: u.tokens + (p.tokens_used ?? 0),
          inputTokens: u.inputTokens + (p.input_tokens ?? 0),
          outputTokens: u.outputTokens + (p.output_tokens ?? 0),
          ...(cost !== undefined || u.costUsd !== undefined ? { costUsd: (u.costUsd ?? 0) + (cost ?? 0) } : {}),
        };
        d.model ??= opt(p.model_used);
      }
      d.tokens = d.usage.tokens;
      break;
    }
    case "TOOL_INVOKED": {
      const tool = opt(e.payload?.tool) ?? "";
      updateAgent(d, who, (a) => ({ ...a, tools: [...a.tools, { tool }] }));
      break;
    }
    case "TOOL_OBSERVATION": {
      const p = e.payload;
      updateAgent(d, who, (a) => {
        // The latest call of this tool still waiting for its result.
        let i = a.tools.length - 1;
        while (i >= 0 && !(a.tools[i].tool === p?.tool && a.tools[i].ok === undefined)) i--;
        if (i < 0) return a;
        const done: ToolUse = { ...a.tools[i], ok: p?.success !== false, output: e.message ?? "" };
        return { ...a, tools: a.tools.map((t, j) => (j === i ? done : t)) };
      });
      break;
    }
    case "APPROVAL_REQUESTED": {
      const p = e.payload;
      const id = opt(p?.approval_id);
      if (!p || !id || d.approvals.some((a) => a.id === id)) break;
      const approval: ApprovalView = {
        id,
        kind: p.kind,
        message: approvalMessage(e.message),
        status: "pending",
        ...(p.tool ? { tool: p.tool, arguments: p.arguments ?? {} } : {}),
        ...(p.plan ? { steps: p.plan.map((s) => s.name) } : {}),
        ...(p.reason ? { reason: p.reason } : {}),
        ...(who ? { agent: who } : {}),
        ...(p.expires_at ? { expiresAt: p.expires_at } : {}),
      };
      d.approvals = [...d.approvals, approval];
      break;
    }
    case "APPROVAL_DECISION": {
      const p = e.payload;
      const status: ApprovalView["status"] = p?.status === "expired" ? "expired" : p?.approved === true ? "approved" : "denied";
      const feedback = opt(p?.feedback);
      updateApproval(d, p?.approval_id ?? "", (a) => ({ ...a, status, ...(feedback ? { feedback } : {}) }));
      break;
    }
    case "RESEARCH_PLAN_READY":
    case "RESEARCH_PLAN_UPDATED": {
      const plan = e.message ?? "";
      const round = opt(e.payload?.round) ?? (d.review?.round ?? 0) + 1;
      const version = opt(e.payload?.version) ?? round;
      d.review = { plan, round, version, status: "awaiting_review", history: [...(d.review?.history ?? []), { from: "planner", text: plan, round }] };
      break;
    }
    case "REVIEW_USER_FEEDBACK": {
      const r = d.review ?? { plan: "", round: 0, version: 0, status: "awaiting_review", history: [] };
      const round = opt(e.payload?.round) ?? r.round;
      d.review = { ...r, status: "revising", history: [...r.history, { from: "user", text: e.message ?? "", round }] };
      break;
    }
    case "RESEARCH_PLAN_APPROVED":
      if (d.review) d.review = { ...d.review, status: "approved" };
      break;
    case "BUDGET_THRESHOLD": {
      // A cost budget's warning carries the run's cost so far: never less than what was summed.
      const cost = opt(e.payload?.cost_usd);
      if (cost !== undefined && cost > (d.usage.costUsd ?? 0)) d.usage = { ...d.usage, costUsd: cost };
      break;
    }
    case "WORKFLOW_PAUSED":
      d.state = "paused";
      break;
    case "WORKFLOW_RESUMED":
      d.state = "running";
      break;
    case "WORKFLOW_COMPLETED":
      d.state = "completed";
      break;
    case "WORKFLOW_CANCELLED":
      d.state = "cancelled";
      break;
    case "WORKFLOW_FAILED":
      d.state = "failed";
      d.error = e.message ?? d.error;
      addError(d, { type: "WORKFLOW_FAILED", message: e.message ?? "failed" });
      break;
  }
  // A single-agent run has no final_output until it ends: its text is the answer so far.
  if (d.plan.length === 0 && e.type === "LLM_PARTIAL" && !SYSTEM_AGENTS.has(who)) {
    d.answer = Object.values(d.agents).map((a) => a.text).join("");
  }
  return d;
}

/** The citations of `more` not already in `list` (by URL), appended. */
export function mergeCitations(list: readonly Citation[], more: readonly Citation[]): readonly Citation[] {
  const seen = new Set(list.map((c) => c.url));
  const fresh = more.filter((c) => !seen.has(c.url) && seen.add(c.url));
  return fresh.length === 0 ? list : [...list, ...fresh];
}

/** A task's events (in order) folded into `view` (a new view; `view` is left as it was). */
export function foldRun(events: Iterable<TaskEvent>, view: RunView = emptyRun()): RunView {
  let v = view;
  for (const e of events) v = foldEvent(v, e);
  return v;
}
