// Type-level tests of the event union (compiled by `npm run typecheck`, never run): narrowing on
// `type` gives the payload's declared type, and a misspelt field or type does not compile.
import type { TaskEvent, TaskEventType, UnknownTaskEvent } from "./bindings";
import { EVENT_TYPES } from "./bindings";

export function approvalIdOf(e: TaskEvent): string | undefined {
  if (e.type === "APPROVAL_REQUESTED") {
    // Required and a string: no `?.`, no cast.
    const id: string = e.payload.approval_id;
    // @ts-expect-error a misspelt payload field
    void e.payload.aproval_id;
    // @ts-expect-error the id is a string, not a number
    const n: number = e.payload.approval_id;
    void n;
    return id;
  }
  if (e.type === "LLM_OUTPUT") {
    // An optional field: a number when present.
    const tokens: number | null | undefined = e.payload.tokens_used;
    void tokens;
  }
  if (e.type === "PROGRESS") {
    // PROGRESS carries a payload only sometimes.
    // @ts-expect-error the payload may be absent
    void e.payload.plan;
    const steps = e.payload?.plan?.map((s) => s.name) ?? [];
    void steps;
  }
  if (e.type === "STREAM_END") {
    // STREAM_END never carries one.
    const none: null | undefined = e.payload;
    void none;
  }
  // @ts-expect-error not an event type
  if (e.type === "APPROVAL_REQUESTD") return undefined;
  return undefined;
}

// The list of types and the union agree.
const first: TaskEventType = EVENT_TYPES[0];
void first;
// @ts-expect-error an unknown type is not a TaskEvent
const unknown: TaskEvent = { workflow_id: "w", type: "FROM_A_NEWER_ENGINE", timestamp: "t", seq: 1 };
void unknown;
// It is an UnknownTaskEvent.
const later: UnknownTaskEvent = { workflow_id: "w", type: "FROM_A_NEWER_ENGINE", timestamp: "t", seq: 1 };
void later;
