// Which events this package knows. The catalogue is the engine's (src/core/run/lifecycle/event_type.rs);
// an engine newer than this package may send a type outside it, which subscribers get apart from
// `TaskEvent`s (`onUnknownEvent`) so that a `switch (e.type)` over the catalogue stays exhaustive.
import type { TaskEvent, Value } from "./bindings.js";

export const KNOWN_EVENT_TYPES = [
  "DATA_PROCESSING", "WORKFLOW_STARTED", "WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "STREAM_END",
  "AGENT_STARTED", "AGENT_COMPLETED", "AGENT_FAILED", "AGENT_THINKING", "ERROR_OCCURRED",
  "ERROR_RECOVERY", "WARNING", "WAITING", "LLM_PROMPT", "LLM_PARTIAL", "LLM_OUTPUT", "TOOL_INVOKED",
  "TOOL_OBSERVATION", "TOOL_ERROR", "PROGRESS", "DELEGATION", "ROLE_ASSIGNED", "TEAM_RECRUITED",
  "TEAM_RETIRED", "TEAM_STATUS", "MESSAGE_SENT", "MESSAGE_RECEIVED", "WORKSPACE_UPDATED",
  "TASKLIST_UPDATED", "LEAD_DECISION", "HITL_RESPONSE", "RESEARCH_PLAN_READY", "RESEARCH_PLAN_UPDATED",
  "RESEARCH_PLAN_APPROVED", "REVIEW_USER_FEEDBACK", "DEPENDENCY_SATISFIED", "BUDGET_THRESHOLD",
  "SYNTHESIS", "REFLECTION", "APPROVAL_REQUESTED", "APPROVAL_DECISION", "WORKFLOW_PAUSING",
  "WORKFLOW_PAUSED", "WORKFLOW_RESUMED", "WORKFLOW_CANCELLING", "WORKFLOW_CANCELLED", "HEARTBEAT", "PING",
] as const;

/** An event whose `type` this package does not know (from a newer engine): its payload is untyped. */
export type UnknownTaskEvent = Omit<TaskEvent, "type" | "payload"> & { type: string; payload?: Value | null };

const KNOWN: ReadonlySet<string> = new Set(KNOWN_EVENT_TYPES);

/** True when `e.type` is in the catalogue this package was built with. */
export function isKnownEvent(e: TaskEvent | UnknownTaskEvent): e is TaskEvent {
  return KNOWN.has(e.type);
}
