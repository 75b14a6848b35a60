import { describe, expect, it } from "vitest";
import { citationsFrom, emptyRun, foldEvent, foldRun, foldTask, pendingApprovals, type RunView, type TaskEvent, type Value } from "./index";
import { currentSeq, ev, resetSeq } from "./testing/ipc";

// The order engine_dag.rs checks on the Rust side: plan, agents interleaved, a tool, synthesis.
function teamRun(): TaskEvent[] {
  resetSeq();
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
    ev("LLM_OUTPUT", "Ebisu", "It is ", { tokens_used: 10, input_tokens: 7, output_tokens: 3, cost_usd: 0.001, model_used: "gpt-x" }),
    ev("TOOL_INVOKED", "Ebisu", "Calling calculator", { tool: "calculator" }),
    ev("TOOL_OBSERVATION", "Ebisu", "42", { tool: "calculator", success: true }),
    ev("LLM_PROMPT", "Ebisu", "Find the number"),
    ev("LLM_PARTIAL", "Ebisu", "42."),
    ev("LLM_OUTPUT", "Ebisu", "42.", { tokens_used: 20, input_tokens: 15, output_tokens: 5, cost_usd: 0.002 }),
    ev("AGENT_COMPLETED", "Ebisu", "Ebisu is done", { subtask_id: "task-1" }),
    ev("AGENT_STARTED", "Gora", "Gora is on it", { subtask_id: "task-2" }),
    ev("ERROR_OCCURRED", "Gora", "openai call failed"),
    ev("AGENT_FAILED", "Gora", "openai call failed", { subtask_id: "task-2" }),
    ev("DATA_PROCESSING", "synthesis", "Pulling it all together"),
    ev("LLM_PARTIAL", "synthesis", "The number "),
    ev("LLM_PARTIAL", "synthesis", "is 42."),
    ev("LLM_OUTPUT", "final_output", "The number is 42.", { tokens_used: 321, input_tokens: 300, output_tokens: 21, model_used: "gpt-x" }),
    ev("WORKFLOW_COMPLETED", "orchestrator", "All done"),
    ev("STREAM_END", "orchestrator", "Done"),
  ];
}

/** Freezes a view all the way down, so a reducer that writes into it throws. */
function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object" && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

describe("foldRun", () => {
  it("turns a team's stream into plan steps, agents, tools, errors, usage and the answer", () => {
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
    // ERROR_OCCURRED then AGENT_FAILED with the same message is one error, named by the second.
    expect(view.errors).toEqual([{ type: "AGENT_FAILED", message: "openai call failed", agent: "Gora" }]);
    expect(view.answer).toBe("The number is 42.");
    // The task's totals replace the sum of its calls; the cost is the calls' sum.
    expect(view.usage).toEqual({ tokens: 321, inputTokens: 300, outputTokens: 21, costUsd: 0.003 });
    expect([view.tokens, view.model]).toEqual([321, "gpt-x"]);
    expect(view.lastStreamId).toBe(String(currentSeq()));
  });

  it("never changes its input, and folding a replay that overlaps what was folded changes nothing", () => {
    const events = teamRun();
    const half = deepFreeze(foldRun(events.slice(0, 10)));
    const whole = foldRun(events.slice(10), half);
    expect(whole).not.toBe(half);
    expect(foldRun(events, whole)).toBe(whole); // every event is at or before its resume point
    expect(foldRun(events)).toEqual(whole);
  });

  it("folds incrementally, and a single agent's text is the answer while it streams", () => {
    resetSeq();
    let view = emptyRun();
    view = foldEvent(view, ev("AGENT_STARTED", "simple-agent", "Agent started"));
    view = foldEvent(view, ev("LLM_PARTIAL", "simple-agent", "Hel"));
    view = foldEvent(view, ev("LLM_PARTIAL", "simple-agent", "lo"));
    expect(view.answer).toBe("Hello");
    expect(view.lastStreamId).toBe("1-2");
    view = foldEvent(view, ev("WORKFLOW_PAUSED", "orchestrator", "Paused", { checkpoint: "llm_stream" }));
    expect(view.state).toBe("paused");
    view = foldEvent(view, ev("WORKFLOW_RESUMED", "orchestrator", "Resuming"));
    view = foldEvent(view, ev("LLM_OUTPUT", "final_output", "Hello", { tokens_used: 5 }));
    view = foldEvent(view, ev("ERROR_OCCURRED", "orchestrator", "budget exceeded", { error: "budget exceeded" }));
    view = foldEvent(view, ev("WORKFLOW_FAILED", "orchestrator", "budget exceeded"));
    expect([view.state, view.error, view.answer]).toEqual(["failed", "budget exceeded", "Hello"]);
    expect(view.errors).toEqual([{ type: "WORKFLOW_FAILED", message: "budget exceeded" }]);
  });

  it("ignores what it does not know and tolerates missing payloads", () => {
    resetSeq();
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
    resetSeq();
    const plan = (names: string[]) => ({
      plan: names.map((name, i) => ({ id: `task-${i + 1}`, name, type: "" })),
      deps: names.length > 1 ? [{ from: "task-1", to: "task-2" }] : [],
    });
    let view = foldRun([
      ev("PROGRESS", "planner", "Got a plan — 2 steps", plan(["Survey", "Draft"])),
      ev("TEAM_RECRUITED", "Ebisu", "scout: Survey", { role: "scout", subtask_id: "task-1" }),
      ev("TEAM_RECRUITED", "Gora", "writer: Draft", { role: "writer", subtask_id: "task-2" }),
      ev("WAITING", "Gora", "Waiting on a previous step"),
      ev("ROLE_ASSIGNED", "Ebisu", "scout", { role: "scout" }),
      ev("AGENT_STARTED", "Ebisu", "Ebisu is on it", { subtask_id: "task-1" }),
    ]);
    expect(view.agents.Gora).toMatchObject({ role: "writer", status: "waiting" });
    expect(view.agents.Ebisu).toMatchObject({ role: "scout", status: "running" });
    view = foldEvent(view, ev("AGENT_COMPLETED", "Ebisu", "Ebisu is done", { subtask_id: "task-1" }));
    const survey = view.plan[0];
    view = foldEvent(view, ev("PROGRESS", "supervisor", "Revised the plan — 1 step left", plan(["Survey", "Draft with prices"])));
    expect(view.plan.map((s) => [s.name, s.status, s.agent])).toEqual([
      ["Survey", "done", "Ebisu"],
      ["Draft with prices", "pending", undefined],
    ]);
    expect(view.plan[0]).toBe(survey); // an unchanged step of a revised plan keeps its identity
    // A role-mode run's ROLE_ASSIGNED names the role, which is no agent of its own.
    view = foldEvent(view, ev("ROLE_ASSIGNED", "analyst", "Ready as analyst", { role: "analyst" }));
    expect(view.agents.analyst).toBeUndefined();
  });
});

describe("foldEvent is a pure reducer with structural sharing", () => {
  const at = (n: number): RunView => foldRun(teamRun().slice(0, n));

  it("a delta makes a new view, agents map and agent; the other agents and the plan are the same objects", () => {
    const events = teamRun();
    const before = deepFreeze(foldRun(events.slice(0, 14))); // Gora has started
    const after = foldEvent(before, ev("LLM_PARTIAL", "Gora", "Thinking"));
    expect(after).not.toBe(before);
    expect(after.agents).not.toBe(before.agents);
    expect(after.agents.Gora).not.toBe(before.agents.Gora);
    expect(after.agents.Gora.text).toBe("Thinking");
    expect(after.agents.Ebisu).toBe(before.agents.Ebisu);
    expect(after.agents.Ebisu.tools).toBe(before.agents.Ebisu.tools);
    expect(after.plan).toBe(before.plan);
    expect(after.errors).toBe(before.errors);
    expect(after.approvals).toBe(before.approvals);
  });

  it("a step's change makes a new plan array and step; the other step is the same object", () => {
    const before = deepFreeze(at(13)); // Ebisu done, Gora not started
    const after = foldEvent(before, teamRun()[13]); // AGENT_STARTED Gora on task-2
    expect(after.plan).not.toBe(before.plan);
    expect(after.plan[0]).toBe(before.plan[0]);
    expect(after.plan[1]).not.toBe(before.plan[1]);
    expect(after.plan[1]).toMatchObject({ status: "running", agent: "Gora" });
    expect(after.agents.Ebisu).toBe(before.agents.Ebisu);
  });

  it("a keep-alive changes nothing and returns the same view", () => {
    const before = at(5);
    expect(foldEvent(before, { ...ev("HEARTBEAT", "orchestrator"), seq: 99 })).toBe(before);
  });
});

describe("approvals, research review and citations", () => {
  it("an approval is pending until its decision", () => {
    resetSeq();
    let view = foldRun([
      ev("APPROVAL_REQUESTED", "Ebisu", "Run file_write? (id=ap-1)", {
        approval_id: "ap-1", kind: "tool", tool: "file_write", arguments: { path: "a.txt" }, reason: "dangerous_tool", expires_at: "2026-01-01T00:00:00Z",
      }),
      ev("APPROVAL_REQUESTED", "planner", "Approve the plan? (id=ap-2)", { approval_id: "ap-2", kind: "plan", plan: [{ id: "task-1", name: "Survey" }] }),
    ]);
    expect(pendingApprovals(view)).toEqual([
      { id: "ap-1", kind: "tool", tool: "file_write", arguments: { path: "a.txt" }, reason: "dangerous_tool", message: "Run file_write?", agent: "Ebisu", expiresAt: "2026-01-01T00:00:00Z", status: "pending" },
      { id: "ap-2", kind: "plan", steps: ["Survey"], message: "Approve the plan?", agent: "planner", status: "pending" },
    ]);
    const first = view.approvals[0];
    view = foldEvent(view, ev("APPROVAL_DECISION", "planner", "Denied", { approval_id: "ap-2", approved: false, status: "denied", feedback: "too broad" }));
    expect(pendingApprovals(view).map((a) => a.id)).toEqual(["ap-1"]);
    expect(view.approvals[0]).toBe(first);
    expect(view.approvals[1]).toMatchObject({ status: "denied", feedback: "too broad" });
  });

  it("a research plan under review: ready, feedback, updated, approved", () => {
    resetSeq();
    let view = foldRun([ev("RESEARCH_PLAN_READY", "planner", "1. Survey prices", { round: 1, version: 1, intent: "research" })]);
    expect(view.review).toMatchObject({ plan: "1. Survey prices", round: 1, version: 1, status: "awaiting_review" });
    view = foldEvent(view, ev("REVIEW_USER_FEEDBACK", "user", "Add Europe", { round: 2, version: 1 }));
    expect(view.review?.status).toBe("revising");
    view = foldEvent(view, ev("RESEARCH_PLAN_UPDATED", "research-planner", "1. Survey prices in the US and Europe", { round: 2, version: 2 }));
    expect(view.review).toMatchObject({ plan: "1. Survey prices in the US and Europe", round: 2, version: 2, status: "awaiting_review" });
    view = foldEvent(view, ev("RESEARCH_PLAN_APPROVED", "planner", "Got it — starting research", { round: 2, version: 2 }));
    expect(view.review?.status).toBe("approved");
    expect(view.review?.history).toEqual([
      { from: "planner", text: "1. Survey prices", round: 1 },
      { from: "user", text: "Add Europe", round: 2 },
      { from: "planner", text: "1. Survey prices in the US and Europe", round: 2 },
    ]);
  });

  it("tool errors are listed with their tool", () => {
    resetSeq();
    const view = foldRun([ev("TOOL_ERROR", "Ebisu", "timeout", { tool: "web_search", error: "timeout" })]);
    expect(view.errors).toEqual([{ type: "TOOL_ERROR", message: "timeout", agent: "Ebisu", tool: "web_search" }]);
  });

  it("citations come typed from the task's metadata (foldTask), malformed entries skipped, none twice", () => {
    const cite = { url: "https://a.example/x", title: "A", source: "a.example", credibility_score: 0.8, quality_score: 0.5 };
    const metadata: Value = { citations: [cite, { url: "https://b.example", title: 3 }, { title: "no url" }, cite] };
    expect(citationsFrom(metadata)).toEqual([cite, { url: "https://b.example", title: "https://b.example" }, cite]);
    const run = foldRun(teamRun());
    const task = {
      task_id: "task-1", workflow_id: "task-1", query: "q", status: "TASK_STATUS_COMPLETED", mode: null, result: "The number is 42. [1]",
      error_message: null, total_tokens: 400, total_cost_usd: 0.004, duration_ms: 1, agents_used: 2, tools_invoked: 1, started_at: "t", completed_at: "t", metadata,
    };
    const done = foldTask(run, task);
    expect(done.citations).toEqual([cite, { url: "https://b.example", title: "https://b.example" }]);
    expect([done.answer, done.usage.tokens, done.usage.costUsd, done.state]).toEqual(["The number is 42. [1]", 400, 0.004, "completed"]);
    expect(done.agents).toBe(run.agents);
    expect(foldTask(done, task)).toBe(done); // nothing new: the same view
  });
});
