// Test helpers: a mocked plugin whose subscribe_task hands the test the Channel, so a test pushes
// ordered events into a subscription as the core would. Not part of the package.
import { mockIPC } from "@tauri-apps/api/mocks";
import type { TaskEvent } from "../bindings";

export type Call = { cmd: string; args: Record<string, unknown> };
export type Sub = { args: Record<string, unknown>; channelId: number; send: (message: unknown) => void };

type Internals = { runCallback: (id: number, data: unknown) => void };

/** Mocks IPC: subscribe_task calls land in `subs`; every call is in `calls`; `reply` answers the rest. */
export function mockPlugin(reply: (call: Call) => unknown = () => null) {
  const subs: Sub[] = [];
  const calls: Call[] = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    if (cmd === "plugin:shannon|subscribe_task") {
      const channelId = (args.onEvent as { id: number }).id;
      const internals = (window as unknown as { __TAURI_INTERNALS__: Internals }).__TAURI_INTERNALS__;
      let index = 0;
      // Channel messages carry an index: the Channel delivers them in that order.
      subs.push({ args, channelId, send: (message) => internals.runCallback(channelId, { index: index++, message }) });
      return null;
    }
    return reply({ cmd, args });
  });
  return { subs, calls };
}

let seq = 0;
let n = 0;
/** A stored event takes the next seq; a transient one the seq before it and its own stream id. */
export function ev(type: string, agent_id: string, message?: string, payload?: unknown, workflow_id = "task-1"): TaskEvent {
  const transient = type === "LLM_PARTIAL" || type === "LLM_PROMPT";
  if (transient) n += 1;
  else {
    seq += 1;
    n = 0;
  }
  return {
    workflow_id,
    type,
    agent_id,
    message,
    payload: payload as TaskEvent["payload"],
    timestamp: "t",
    seq,
    stream_id: transient ? `${seq}-${n}` : undefined,
  } as TaskEvent;
}
export const resetSeq = () => {
  seq = 0;
  n = 0;
};
export const currentSeq = () => seq;

/** Lets queued promise callbacks run. */
export const tick = () => new Promise((r) => setTimeout(r, 0));
