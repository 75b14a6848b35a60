// foldRun: a task's event stream as a view model, so an app renders a run (one agent or a team) in a
// few lines: the plan's steps with their status, each agent's live text and tools, the answer, the
// usage, the run's state. Pure: feed it events in order (live, replayed, or both with `foldEvent`).
import type { TaskEvent } from "./bindings";

export type RunState = "running" | "paused" | "completed" | "failed" | "cancelled";

export interface PlanStep {
  id: string;
  name: string;
  type: string;
  dependsOn: string[];
  status: "pending" | "running" | "done" | "failed";
  /** The agent working on it, once one started. */
  agent?: string;
}

export interface ToolUse {
  tool: string;
  /** Unknown until its observation arrives. */
  ok?: boolean;
  output?: string;
}

export interface AgentView {
  id: string;
  /** What it streamed (its deltas, in order). */
  text: string;
  /** `waiting`: a supervisor's agent whose dependencies are not done yet. */
  status: "waiting" | "running" | "done" | "failed";
  /** Its role in a supervisor's team. */
  role?: string;
  tools: ToolUse[];
  subtask?: string;
  error?: string;
}

export interface RunView {
  state: RunState;
  /** Empty for single-agent runs. */
  plan: PlanStep[];
  /** By agent id, in order of first appearance (`Object.values` keeps it). */
  agents: Record<string, AgentView>;
  /** The final answer once given (`final_output`), else the single agent's text so far. */
  answer: string;
  tokens: number;
  model?: string;
  error?: string;
  /** The resume position after the last event folded in. */
  lastStreamId?: string;
}

export const emptyRun = (): RunView => ({ state: "running", plan: [], agents: {}, answer: "", tokens: 0 });

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Agents that are the run's plumbing, not a team member. */
const SYSTEM_AGENTS = new Set(["orchestrator", "planner", "decompose", "final_output"]);

function agent(view: RunView, id: string): AgentView {
  return (view.agents[id] ??= { id, text: "", status: "running", tools: [] });
}

function step(view: RunView, id: string | undefined): PlanStep | undefined {
  return id === undefined ? undefined : view.plan.find((s) => s.id === id);
}

/** Folds one event into the view (returns the same object, updated). */
export function foldEvent(view: RunView, e: TaskEvent): RunView {
  const payload = obj(e.payload);
  const who = e.agent_id ?? "";
  view.lastStreamId = e.stream_id ?? String(e.seq);
  switch (e.type) {
    case "PROGRESS": {
      const plan = payload.plan;
      if (Array.isArray(plan)) {
        const deps = Array.isArray(payload.deps) ? payload.deps.map(obj) : [];
        // A supervisor's revised plan keeps what its steps already did.
        const before = new Map(view.plan.map((s) => [s.id, s]));
        view.plan = plan.map(obj).map((p) => {
          const id = str(p.id) ?? "";
          const was = before.get(id);
          return {
            id,
            name: str(p.name) ?? "",
            type: str(p.type) ?? "",
            dependsOn: deps.filter((d) => d.to === p.id).map((d) => str(d.from) ?? ""),
            status: was?.status ?? "pending",
            ...(was?.agent ? { agent: was.agent } : {}),
          };
        });
      }
      break;
    }
    case "TEAM_RECRUITED": {
      // Recruited agents wait until they start.
      const fresh = !view.agents[who];
      const a = agent(view, who);
      if (fresh) a.status = "waiting";
      a.role = str(payload.role) ?? a.role;
      break;
    }
    case "ROLE_ASSIGNED":
      // A role-mode run names the role itself as the agent: not a team member of its own.
      if (who !== str(payload.role)) agent(view, who).role = str(payload.role);
      break;
    case "WAITING":
      agent(view, who).status = "waiting";
      break;
    case "AGENT_STARTED": {
      const a = agent(view, who);
      a.status = "running";
      a.subtask = str(payload.subtask_id);
      const s = step(view, a.subtask);
      if (s) Object.assign(s, { status: "running", agent: who });
      break;
    }
    case "AGENT_COMPLETED": {
      const a = agent(view, who);
      a.status = "done";
      const s = step(view, a.subtask ?? str(payload.subtask_id));
      if (s) s.status = "done";
      break;
    }
    case "AGENT_FAILED": {
      const a = agent(view, who);
      Object.assign(a, { status: "failed", error: e.message ?? undefined });
      const s = step(view, a.subtask ?? str(payload.subtask_id));
      if (s) s.status = "failed";
      break;
    }
    case "LLM_PROMPT":
      // A later call of the same agent (after a tool) continues its text below.
      if (!SYSTEM_AGENTS.has(who) && view.agents[who]?.text) view.agents[who].text += "\n\n";
      break;
    case "LLM_PARTIAL":
      if (!SYSTEM_AGENTS.has(who)) agent(view, who).text += e.message ?? "";
      break;
    case "LLM_OUTPUT":
      if (who === "final_output") {
        view.answer = e.message ?? "";
        view.tokens = Number(payload.tokens_used ?? view.tokens) || view.tokens;
        view.model = str(payload.model_used) ?? view.model;
      }
      break;
    case "TOOL_INVOKED":
      agent(view, who).tools.push({ tool: str(payload.tool) ?? "" });
      break;
    case "TOOL_OBSERVATION": {
      const use = [...agent(view, who).tools].reverse().find((t) => t.tool === payload.tool && t.ok === undefined);
      if (use) Object.assign(use, { ok: payload.success !== false, output: e.message ?? "" });
      break;
    }
    case "WORKFLOW_PAUSED":
      view.state = "paused";
      break;
    case "WORKFLOW_RESUMED":
      view.state = "running";
      break;
    case "WORKFLOW_COMPLETED":
      view.state = "completed";
      break;
    case "WORKFLOW_CANCELLED":
      view.state = "cancelled";
      break;
    case "WORKFLOW_FAILED":
      Object.assign(view, { state: "failed", error: e.message ?? view.error });
      break;
  }
  // A single-agent run has no final_output until it ends: its text is the answer so far.
  if (view.plan.length === 0 && e.type === "LLM_PARTIAL" && !SYSTEM_AGENTS.has(who)) {
    view.answer = Object.values(view.agents).map((a) => a.text).join("");
  }
  return view;
}

/** A task's events (in order) as a view model. */
export function foldRun(events: Iterable<TaskEvent>, view: RunView = emptyRun()): RunView {
  for (const e of events) foldEvent(view, e);
  return view;
}
