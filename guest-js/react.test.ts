import { afterEach, describe, expect, it } from "vitest";
import { clearMocks } from "@tauri-apps/api/mocks";
import { StrictMode, createElement as h, memo, type ReactNode } from "react";
import { act, cleanup, fireEvent, render, renderHook, screen, waitFor } from "@testing-library/react";
import { useSessionMessages, useSubmitTask, useTaskRun } from "./react";
import type { AgentView, TaskEvent, TaskHistory } from "./index";
import { ev, mockPlugin, resetSeq, tick, type Call } from "./testing/ipc";

afterEach(() => {
  cleanup();
  clearMocks();
});

/** Sends events into a subscription and lets the for-await loop and React catch up. */
const stream = (sub: { send: (m: unknown) => void }, events: TaskEvent[]) =>
  act(async () => {
    for (const e of events) sub.send(e);
    await tick();
  });

const cmds = (calls: Call[], name: string) => calls.filter((c) => c.cmd === `plugin:shannon|${name}`);

function teamRun(id = "task-1"): TaskEvent[] {
  resetSeq();
  const plan = { plan: [{ id: "s1", name: "Survey", type: "" }, { id: "s2", name: "Draft", type: "" }], deps: [{ from: "s1", to: "s2" }] };
  return [
    ev("WORKFLOW_STARTED", "orchestrator", "Starting", undefined, id),
    ev("PROGRESS", "planner", "Got a plan — 2 steps", plan, id),
    ev("AGENT_STARTED", "Ebisu", "on it", { subtask_id: "s1" }, id),
    ev("LLM_PARTIAL", "Ebisu", "Prices are up.", undefined, id),
    ev("AGENT_COMPLETED", "Ebisu", "done", { subtask_id: "s1" }, id),
    ev("AGENT_STARTED", "Gora", "on it", { subtask_id: "s2" }, id),
    ev("LLM_PARTIAL", "Gora", "Draft: ", undefined, id),
    ev("LLM_PARTIAL", "Gora", "up 3%.", undefined, id),
    ev("AGENT_COMPLETED", "Gora", "done", { subtask_id: "s2" }, id),
    ev("LLM_OUTPUT", "final_output", "Prices rose 3%.", { tokens_used: 90 }, id),
    ev("WORKFLOW_COMPLETED", "orchestrator", "All done", undefined, id),
    ev("STREAM_END", "orchestrator", "Done", undefined, id),
  ];
}

const renders: Record<string, number> = {};
// Memoised on the agent object: it renders again only when the reducer gave that agent a new object.
const Agent = memo(function Agent({ agent }: { agent: AgentView }) {
  renders[agent.id] = (renders[agent.id] ?? 0) + 1;
  return h("section", { "data-testid": `agent-${agent.id}` }, `${agent.id}: ${agent.text}`);
});

function Run({ taskId }: { taskId: string | null }): ReactNode {
  const view = useTaskRun(taskId);
  return h(
    "div",
    null,
    h("p", { "data-testid": "state" }, view.state),
    h("ol", null, ...view.plan.map((s) => h("li", { key: s.id, "data-testid": `step-${s.id}` }, `${s.name}: ${s.status} ${s.agent ?? ""}`))),
    ...Object.values(view.agents).map((a) => h(Agent, { key: a.id, agent: a })),
    h("p", { "data-testid": "answer" }, view.answer),
  );
}

describe("useTaskRun", () => {
  it("renders a streamed multi-agent run: plan, agents, answer; an untouched agent does not re-render", async () => {
    const { subs } = mockPlugin();
    render(h(Run, { taskId: "task-1" }));
    await waitFor(() => expect(subs).toHaveLength(1));
    expect(subs[0].args).toMatchObject({ taskId: "task-1", lastStreamId: null });
    const events = teamRun();
    await stream(subs[0], events.slice(0, 6));
    expect(screen.getByTestId("step-s1").textContent).toBe("Survey: done Ebisu");
    expect(screen.getByTestId("step-s2").textContent).toBe("Draft: running Gora");
    expect(screen.getByTestId("agent-Ebisu").textContent).toBe("Ebisu: Prices are up.");
    const ebisuRenders = renders.Ebisu;
    await stream(subs[0], events.slice(6));
    expect(screen.getByTestId("agent-Gora").textContent).toBe("Gora: Draft: up 3%.");
    expect(renders.Ebisu).toBe(ebisuRenders); // Gora's deltas left Ebisu's object as it was
    expect(screen.getByTestId("answer").textContent).toBe("Prices rose 3%.");
    expect(screen.getByTestId("state").textContent).toBe("completed");
  });

  it("unmounting aborts: unsubscribe_task for the Channel, and later events render nothing", async () => {
    const { subs, calls } = mockPlugin();
    const { unmount } = render(h(Run, { taskId: "task-1" }));
    await waitFor(() => expect(subs).toHaveLength(1));
    unmount();
    expect(cmds(calls, "unsubscribe_task").map((c) => c.args)).toEqual([{ channelId: subs[0].channelId }]);
    await stream(subs[0], teamRun()); // nothing throws, nothing is set on the unmounted component
  });

  it("under StrictMode (effects run twice) the first subscription is ended and the second renders the run", async () => {
    const { subs, calls } = mockPlugin();
    render(h(StrictMode, null, h(Run, { taskId: "task-1" })));
    await waitFor(() => expect(subs).toHaveLength(2));
    await waitFor(() => expect(cmds(calls, "unsubscribe_task").map((c) => c.args)).toEqual([{ channelId: subs[0].channelId }]));
    await stream(subs[1], teamRun());
    expect(screen.getByTestId("answer").textContent).toBe("Prices rose 3%.");
  });

  it("a new task id ends the old subscription and starts from an empty view", async () => {
    const { subs, calls } = mockPlugin();
    const { rerender } = render(h(Run, { taskId: "task-1" }));
    await waitFor(() => expect(subs).toHaveLength(1));
    await stream(subs[0], teamRun().slice(0, 4));
    expect(screen.queryByTestId("agent-Ebisu")).not.toBeNull();
    rerender(h(Run, { taskId: "task-2" }));
    expect(screen.queryByTestId("agent-Ebisu")).toBeNull();
    await waitFor(() => expect(subs).toHaveLength(2));
    expect(subs[1].args.taskId).toBe("task-2");
    expect(cmds(calls, "unsubscribe_task").map((c) => c.args)).toEqual([{ channelId: subs[0].channelId }]);
  });
});

describe("useSubmitTask", () => {
  it("submits and reports the task; a failure is its error state", async () => {
    let fail = false;
    mockPlugin(({ cmd }) => {
      if (fail) throw { kind: "provider_not_ready", message: "no key" };
      return cmd.endsWith("submit_task") ? { task_id: "task-9", workflow_id: "task-9", session_id: "s-1", status: "STATUS_CODE_OK", message: "", created_at: "t", idempotent_replay: false } : null;
    });
    const { result } = renderHook(() => useSubmitTask());
    expect(result.current.status).toBe("idle");
    await act(() => result.current.submit({ query: "q" }));
    expect(result.current).toMatchObject({ status: "submitted", taskId: "task-9", sessionId: "s-1" });
    fail = true;
    await act(() => result.current.submit({ query: "q" }).catch(() => {}));
    expect(result.current.status).toBe("error");
    expect(result.current.error).toMatchObject({ kind: "provider_not_ready" });
  });

  it("a submitted task's run renders as it streams", async () => {
    const { subs } = mockPlugin(() => ({ task_id: "task-1", workflow_id: "task-1", session_id: "s-1", status: "STATUS_CODE_OK", message: "", created_at: "t", idempotent_replay: false }));
    function Chat() {
      const { submit, taskId, status } = useSubmitTask();
      return h("div", null, h("button", { onClick: () => void submit({ query: "prices?" }) }, status), taskId ? h(Run, { taskId }) : null);
    }
    render(h(Chat));
    fireEvent.click(screen.getByRole("button"));
    await waitFor(() => expect(subs).toHaveLength(1));
    await stream(subs[0], teamRun());
    expect(screen.getByRole("button").textContent).toBe("submitted");
    expect(screen.getByTestId("answer").textContent).toBe("Prices rose 3%.");
  });
});

describe("useSessionMessages", () => {
  const task = (id: string, status: string, result: string | null, metadata: TaskHistory["metadata"] = null): TaskHistory => ({
    task_id: id, workflow_id: id, query: `question ${id}`, status, mode: null, result, error_message: null, total_tokens: 10,
    total_cost_usd: 0.01, duration_ms: null, agents_used: 1, tools_invoked: 0, started_at: "t", completed_at: null, metadata,
  });

  it("gives stored answers with their citations, streams the running task, and fetches again when it ends", async () => {
    const cite = { url: "https://a.example", title: "A", source: "a.example", credibility_score: 0.9, quality_score: 0.7 };
    let done = false;
    const { subs, calls } = mockPlugin(({ cmd }) =>
      cmd.endsWith("get_session_history")
        ? { session_id: "s-1", total: 2, tasks: [task("task-0", "TASK_STATUS_COMPLETED", "Earlier answer [1]", { citations: [cite] }), done ? task("task-1", "COMPLETED", "Prices rose 3%.") : task("task-1", "RUNNING", null)] }
        : null,
    );
    const { result } = renderHook(() => useSessionMessages("s-1"));
    expect(result.current.loading).toBe(true);
    await waitFor(() => expect(subs).toHaveLength(1));
    expect(subs[0].args.taskId).toBe("task-1");
    const first = result.current.messages;
    expect(first.map((m) => [m.role, m.text, m.status])).toEqual([
      ["user", "question task-0", undefined],
      ["assistant", "Earlier answer [1]", "completed"],
      ["user", "question task-1", undefined],
      ["assistant", "", "running"],
    ]);
    expect(first[1].citations).toEqual([cite]);
    const events = teamRun();
    await stream(subs[0], events.slice(0, 8));
    expect(result.current.messages[3].run?.agents.Gora.text).toBe("Draft: up 3%.");
    expect(result.current.messages[1]).toEqual(first[1]);
    done = true;
    await stream(subs[0], events.slice(8));
    await waitFor(() => expect(cmds(calls, "get_session_history")).toHaveLength(2));
    await waitFor(() => expect(result.current.messages[3]).toMatchObject({ text: "Prices rose 3%.", status: "completed" }));
    expect(subs).toHaveLength(1); // the ended task is not streamed again
  });
});
