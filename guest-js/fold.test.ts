import { describe, expect, it } from "vitest";
import { emptyRun, foldEvent, foldRun, type TaskEvent } from "./index";

let seq = 0;
let n = 0;
// A stored event takes the next seq; a transient one the seq before it and its own stream id.
function ev(type: string, agent_id: string, message?: string, payload?: unknown): TaskEvent {
  const transient = type === "LLM_PARTIAL" || type === "LLM_PROMPT";
  if (!transient) {
    seq += 1;
    n = 0;
  } else {
    n += 1;
  }
  return {
    workflow_id: "task-1",
    type,
    agent_id,
    message,
    payload: payload as TaskEvent["payload"],
    timestamp: "t",
    seq,
    stream_id: transient ? `${seq}-${n}` : undefined,
  } as TaskEvent;
}

// The order engine_dag.rs checks on the Rust side: plan, agents interleaved, a tool, synthesis.
function teamRun(): TaskEvent[] {
  seq = 0;
  return [
    ev("WORKFLOW_STARTED", "orchestrator", "Starting up"),
    ev("PROGRESS", "planner", "Understanding your request"),
    ev("PROGRESS", "planner", "Got a plan — 2 steps", {
      plan: [
        { id: "task-1", name: "Find the number", type: "" },
        { id: "task-2", name: "Use it", type: "" },
      ],
      deps: [{ from: "task-1", to: "task-2" }],
    }),
    ev("AGENT_STARTED", "Ebisu", "Ebisu is on it", { subtask_id: "task-1" }),
    ev("LLM_PROMPT", "Ebisu", "Find the number"),
    ev("LLM_PARTIAL", "Ebisu", "It is "),
    ev("LLM_OUTPUT", "Ebisu", "It is "),
    ev("TOOL_INVOKED", "Ebisu", "Calling calculator", { tool: "calculator" }),
    ev("TOOL_OBSERVATION", "Ebisu", "42", { tool: "calculator", success: true }),
    ev("LLM_PROMPT", "Ebisu", "Find the number"),
    ev("LLM_PARTIAL", "Ebisu", "42."),
    ev("LLM_OUTPUT", "Ebisu", "42."),
    ev("AGENT_COMPLETED", "Ebisu", "Ebisu is done", { subtask_id: "task-1" }),
    ev("AGENT_STARTED", "Gora", "Gora is on it", { subtask_id: "task-2" }),
    ev("ERROR_OCCURRED", "Gora", "openai call failed"),
    ev("AGENT_FAILED", "Gora", "openai call failed", { subtask_id: "task-2" }),
    ev("DATA_PROCESSING", "synthesis", "Pulling it all together"),
    ev("LLM_PARTIAL", "synthesis", "The number "),
    ev("LLM_PARTIAL", "synthesis", "is 42."),
    ev("LLM_OUTPUT", "final_output", "The number is 42.", { tokens_used: 321, model_used: "gpt-x" }),
    ev("WORKFLOW_COMPLETED", "orchestrator", "All done"),
    ev("STREAM_END", "orchestrator", "Done"),
  ];
}

describe("foldRun", () => {
  it("turns a team's stream into plan steps, agents, tools and the answer", () => {
    const view = foldRun(teamRun());
    expect(view.state).toBe("completed");
    expect(view.plan.map((s) => [s.id, s.status, s.agent, s.dependsOn])).toEqual([
      ["task-1", "done", "Ebisu", []],
      ["task-2", "failed", "Gora", ["task-1"]],
    ]);
    expect(Object.keys(view.agents)).toEqual(["Ebisu", "Gora", "synthesis"]);
    expect(view.agents.Ebisu.text).toBe("It is \n\n42.");
    expect(view.agents.Ebisu.tools).toEqual([{ tool: "calculator", ok: true, output: "42" }]);
    expect(view.agents.Gora).toMatchObject({ status: "failed", error: "openai call failed" });
    expect(view.answer).toBe("The number is 42.");
    expect([view.tokens, view.model]).toEqual([321, "gpt-x"]);
    expect(view.lastStreamId).toBe(String(seq));
  });

  it("folds incrementally, and a single agent's text is the answer while it streams", () => {
    seq = 0;
    const view = emptyRun();
    foldEvent(view, ev("AGENT_STARTED", "simple-agent", "Agent started"));
    foldEvent(view, ev("LLM_PARTIAL", "simple-agent", "Hel"));
    foldEvent(view, ev("LLM_PARTIAL", "simple-agent", "lo"));
    expect(view.answer).toBe("Hello");
    expect(view.lastStreamId).toBe("1-2");
    foldEvent(view, ev("WORKFLOW_PAUSED", "orchestrator", "Paused", { checkpoint: "llm_stream" }));
    expect(view.state).toBe("paused");
    foldEvent(view, ev("WORKFLOW_RESUMED", "orchestrator", "Resuming"));
    foldEvent(view, ev("LLM_OUTPUT", "final_output", "Hello", { tokens_used: 5 }));
    foldEvent(view, ev("WORKFLOW_FAILED", "orchestrator", "budget exceeded"));
    expect([view.state, view.error, view.answer]).toEqual(["failed", "budget exceeded", "Hello"]);
  });

  it("ignores what it does not know and tolerates missing payloads", () => {
    seq = 0;
    const view = foldRun([
      ev("SOMETHING_NEW", "x"),
      ev("PROGRESS", "planner", "no plan here"),
      ev("AGENT_COMPLETED", "Nobody"),
      ev("TOOL_OBSERVATION", "Nobody", "orphan"),
    ]);
    expect(view.plan).toEqual([]);
    expect(view.state).toBe("running");
    expect(view.agents.Nobody.status).toBe("done");
  });

  it("follows a supervisor's team: roles, waiting agents, and a revised plan that keeps what was done", () => {
    seq = 0;
    const plan = (names: string[]) => ({
      plan: names.map((name, i) => ({ id: `task-${i + 1}`, name, type: "" })),
      deps: names.length > 1 ? [{ from: "task-1", to: "task-2" }] : [],
    });
    const view = foldRun([
      ev("PROGRESS", "planner", "Got a plan — 2 steps", plan(["Survey", "Draft"])),
      ev("TEAM_RECRUITED", "Ebisu", "scout: Survey", { role: "scout", subtask_id: "task-1" }),
      ev("TEAM_RECRUITED", "Gora", "writer: Draft", { role: "writer", subtask_id: "task-2" }),
      ev("WAITING", "Gora", "Waiting on a previous step"),
      ev("ROLE_ASSIGNED", "Ebisu", "scout", { role: "scout" }),
      ev("AGENT_STARTED", "Ebisu", "Ebisu is on it", { subtask_id: "task-1" }),
    ]);
    expect(view.agents.Gora).toMatchObject({ role: "writer", status: "waiting" });
    expect(view.agents.Ebisu).toMatchObject({ role: "scout", status: "running" });
    foldEvent(view, ev("AGENT_COMPLETED", "Ebisu", "Ebisu is done", { subtask_id: "task-1" }));
    foldEvent(view, ev("PROGRESS", "supervisor", "Revised the plan — 1 step left", plan(["Survey", "Draft with prices"])));
    expect(view.plan.map((s) => [s.name, s.status, s.agent])).toEqual([
      ["Survey", "done", "Ebisu"],
      ["Draft with prices", "pending", undefined],
    ]);
    // A role-mode run's ROLE_ASSIGNED names the role, which is no agent of its own.
    foldEvent(view, ev("ROLE_ASSIGNED", "analyst", "Ready as analyst", { role: "analyst" }));
    expect(view.agents.analyst).toBeUndefined();
  });
});
