// A session as chat messages: each task is the user's question and the assistant's answer. Stored
// tasks come from `getSessionHistory`; a task still streaming can be given as its live RunView, which
// then supplies the answer so far. Pure functions, like fold.ts.
import type { TaskDetails, TaskHistory } from "./bindings.js";
import { citationsFrom, emptyRun, mergeCitations, type Citation, type RunState, type RunView, type RunUsage } from "./fold.js";

export type MessageStatus = "queued" | RunState;

export interface ChatMessage {
  /** Stable across renders: `<task id>:user` or `<task id>:assistant`. */
  readonly id: string;
  readonly role: "user" | "assistant";
  readonly taskId: string;
  /** The question, or the answer (so far). */
  readonly text: string;
  /** Assistant messages only from here on. */
  readonly status?: MessageStatus;
  readonly error?: string;
  readonly citations?: readonly Citation[];
  readonly usage?: RunUsage;
  /** The live view, when the task is being streamed (plan, agents, approvals…). */
  readonly run?: RunView;
}

/** `TASK_STATUS_RUNNING`, `RUNNING`, `running` → `running`. */
export function taskState(status: string): MessageStatus {
  const s = status.replace(/^TASK_STATUS_/, "").toLowerCase();
  if (s === "queued" || s === "pending") return "queued";
  if (s === "completed" || s === "failed" || s === "cancelled" || s === "paused") return s;
  if (s === "timeout" || s === "timed_out") return "failed";
  return "running";
}

/** True while a task can still send events (a stream is worth opening). */
export const isLive = (status: string) => ["queued", "running", "paused"].includes(taskState(status));

/**
 * What the stored task adds to a run's view once it ended: its answer, state, usage and the sources in
 * its `metadata.citations` (where the engine reports them). Returns `view` when it adds nothing.
 */
export function foldTask(view: RunView, task: TaskDetails | TaskHistory): RunView {
  const state = taskState(task.status);
  const cited = mergeCitations(view.citations, citationsFrom(task.metadata));
  const answer = task.result || view.answer;
  const u = "usage" in task ? task.usage : null;
  const tokens = ("total_tokens" in task ? task.total_tokens : u?.total_tokens) || view.usage.tokens;
  const cost = ("total_cost_usd" in task ? task.total_cost_usd : u?.estimated_cost) ?? view.usage.costUsd;
  const usage: RunUsage =
    tokens === view.usage.tokens && cost === view.usage.costUsd ? view.usage : { ...view.usage, tokens, ...(cost != null ? { costUsd: cost } : {}) };
  const next: RunView = {
    ...view,
    state: state === "queued" ? view.state : state,
    answer,
    citations: cited,
    usage,
    tokens: usage.tokens,
  };
  const same = next.state === view.state && answer === view.answer && cited === view.citations && usage === view.usage;
  return same ? view : next;
}

/** A session's tasks (in order) as messages; `live` holds the RunViews of tasks being streamed, by task id. */
export function foldSession(tasks: readonly TaskHistory[], live: Readonly<Record<string, RunView>> = {}): ChatMessage[] {
  return tasks.flatMap((t): ChatMessage[] => {
    const taskId = t.workflow_id;
    const run = live[taskId];
    const stored = foldTask(run ?? withoutStream, t);
    const streaming = run !== undefined && isLive(t.status);
    const status = streaming ? run.state : taskState(t.status);
    const error = t.error_message ?? run?.error;
    return [
      { id: `${taskId}:user`, role: "user", taskId, text: t.query },
      {
        id: `${taskId}:assistant`,
        role: "assistant",
        taskId,
        text: streaming ? run.answer : stored.answer || (error ?? ""),
        status,
        citations: stored.citations,
        usage: stored.usage,
        ...(error ? { error } : {}),
        ...(run ? { run: streaming ? run : stored } : {}),
      },
    ];
  });
}

const withoutStream = emptyRun();
