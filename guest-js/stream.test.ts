import { afterEach, describe, expect, it } from "vitest";
import { clearMocks } from "@tauri-apps/api/mocks";
import { subscribeTask, type TaskEvent, type UnknownTaskEvent } from "./index";
import { ev, mockPlugin, resetSeq, tick } from "./testing/ipc";

afterEach(() => clearMocks());

const unsubscribes = (calls: { cmd: string; args: Record<string, unknown> }[]) =>
  calls.filter((c) => c.cmd === "plugin:shannon|unsubscribe_task").map((c) => c.args);

function run(): TaskEvent[] {
  resetSeq();
  return [
    ev("WORKFLOW_STARTED", "orchestrator"),
    ev("AGENT_STARTED", "a"),
    ev("LLM_PARTIAL", "a", "Hel"),
    ev("LLM_PARTIAL", "a", "lo"),
    ev("LLM_OUTPUT", "final_output", "Hello"),
    ev("WORKFLOW_COMPLETED", "orchestrator"),
    ev("STREAM_END", "orchestrator"),
  ];
}

describe("subscribeTask as an async iterable", () => {
  it("for await gets the same events as the callback, in order, and ends after STREAM_END", async () => {
    const { subs, calls } = mockPlugin();
    const viaCallback: TaskEvent[] = [];
    const stream = await subscribeTask("task-1", { onEvent: (e) => viaCallback.push(e), storage: null });
    const reading = (async () => {
      const got: TaskEvent[] = [];
      for await (const e of stream) got.push(e);
      return got;
    })();
    const events = run();
    for (const e of events) subs[0].send(e);
    const viaIterator = await reading;
    expect(viaIterator).toEqual(events);
    expect(viaCallback).toEqual(events);
    await stream.done;
    // The core ended the subscription itself: nothing to unsubscribe.
    stream.close();
    expect(unsubscribes(calls)).toEqual([]);
  });

  it("without onEvent, events that arrive before the loop starts are buffered, none lost", async () => {
    const { subs } = mockPlugin();
    const stream = await subscribeTask("task-1", { storage: null });
    const events = run();
    for (const e of events) subs[0].send(e);
    await tick();
    const got: string[] = [];
    for await (const e of stream) got.push(e.type);
    expect(got).toEqual(events.map((e) => e.type));
    expect(() => stream[Symbol.asyncIterator]()).toThrow(/once/);
  });

  it("break in for await closes the subscription in the core", async () => {
    const { subs, calls } = mockPlugin();
    const stream = await subscribeTask("task-1", { storage: null });
    const events = run();
    for (const e of events.slice(0, 3)) subs[0].send(e);
    for await (const e of stream) if (e.type === "AGENT_STARTED") break;
    expect(unsubscribes(calls)).toEqual([{ channelId: stream.channelId }]);
    await stream.done;
  });
});

describe("subscribeTask with an AbortSignal", () => {
  it("an abort stops delivery, ends the iterator and calls unsubscribe_task with the Channel's id", async () => {
    const { subs, calls } = mockPlugin();
    const controller = new AbortController();
    const seen: string[] = [];
    const stream = await subscribeTask("task-1", { onEvent: (e) => seen.push(e.type), signal: controller.signal, storage: null });
    const reading = (async () => {
      const got: string[] = [];
      for await (const e of stream) got.push(e.type);
      return got;
    })();
    const events = run();
    subs[0].send(events[0]);
    subs[0].send(events[1]);
    await tick();
    controller.abort();
    for (const e of events.slice(2)) subs[0].send(e); // what the core had already sent
    expect(await reading).toEqual(["WORKFLOW_STARTED", "AGENT_STARTED"]);
    expect(seen).toEqual(["WORKFLOW_STARTED", "AGENT_STARTED"]);
    expect(unsubscribes(calls)).toEqual([{ channelId: subs[0].channelId }]);
    expect(stream.channelId).toBe(subs[0].channelId);
    await stream.done;
    stream.close(); // a second close asks nothing more
    expect(unsubscribes(calls)).toHaveLength(1);
  });

  it("an already aborted signal rejects without subscribing", async () => {
    const { calls } = mockPlugin();
    const err = await subscribeTask("task-1", { signal: AbortSignal.abort(), storage: null }).catch((e: unknown) => e);
    expect((err as DOMException).name).toBe("AbortError");
    expect(calls).toEqual([]);
  });

  it("an abort while subscribing rejects, and the subscription is ended in the core once it exists", async () => {
    const { calls } = mockPlugin();
    const controller = new AbortController();
    const pending = subscribeTask("task-1", { signal: controller.signal, storage: null });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(calls.map((c) => c.cmd)).toEqual(["plugin:shannon|subscribe_task", "plugin:shannon|unsubscribe_task"]);
  });

  it("a failing unsubscribe_task (the subscription already ended) is ignored", async () => {
    const { calls } = mockPlugin(({ cmd }) => {
      if (cmd.endsWith("unsubscribe_task")) throw { kind: "not_found", message: "gone" };
      return null;
    });
    const stream = await subscribeTask("task-1", { onEvent: () => {}, storage: null });
    stream.close();
    await stream.done;
    await tick();
    expect(unsubscribes(calls)).toHaveLength(1);
  });
});

describe("events of a type this package does not know", () => {
  it("go to onUnknownEvent, not to onEvent or the iterator, and still move the resume point", async () => {
    const { subs } = mockPlugin();
    const known: string[] = [];
    const unknown: UnknownTaskEvent[] = [];
    const stream = await subscribeTask("task-1", { onEvent: (e) => known.push(e.type), onUnknownEvent: (e) => unknown.push(e), storage: null });
    const reading = (async () => {
      const got: string[] = [];
      for await (const e of stream) got.push(e.type);
      return got;
    })();
    resetSeq();
    subs[0].send(ev("WORKFLOW_STARTED", "orchestrator"));
    subs[0].send(ev("QUANTUM_LEAP", "orchestrator", "from a newer engine", { x: 1 }));
    expect(stream.lastEventId()).toBe(2);
    subs[0].send(ev("STREAM_END", "orchestrator"));
    expect(await reading).toEqual(["WORKFLOW_STARTED", "STREAM_END"]);
    expect(known).toEqual(["WORKFLOW_STARTED", "STREAM_END"]);
    expect(unknown.map((e) => [e.type, e.payload])).toEqual([["QUANTUM_LEAP", { x: 1 }]]);
  });
});
