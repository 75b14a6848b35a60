// React hooks on the stream and the reducer: `tauri-plugin-shannon-api/react`. React is an optional
// peer dependency of the package, needed only by this entry. Each hook subscribes in an effect and
// aborts on unmount or when its id changes, so nothing keeps streaming into an unmounted component.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { SubmitTaskRequest, SubmitTaskResponse, TaskHistory, UnknownTaskEvent } from "./bindings.js";
import { emptyRun, foldEvent, type RunView } from "./fold.js";
import { getSessionHistory, submitTask, subscribeTask } from "./index.js";
import { foldSession, isLive, type ChatMessage } from "./session.js";

export interface UseTaskRunOptions {
  /** Only these event types (read when the subscription starts). */
  types?: string[];
  /** Merge deltas arriving within one frame: fewer renders for a fast model. */
  coalesce?: boolean;
  onUnknownEvent?: (event: UnknownTaskEvent) => void;
  /** The subscription could not be set up (an unknown task, no permission…). */
  onError?: (error: unknown) => void;
}

/** One view for "no task yet" and for the first render of a new id: the same object, so memo holds. */
const EMPTY: RunView = emptyRun();

/**
 * A task's run as a view model, updated as its events stream in (from its start: the hook keeps no
 * events across mounts). `taskId` null or undefined: no subscription, the empty view.
 */
export function useTaskRun(taskId: string | null | undefined, options: UseTaskRunOptions = {}): RunView {
  const [state, setState] = useState<{ id: string | null | undefined; view: RunView }>({ id: taskId, view: EMPTY });
  // Callbacks may change every render; the subscription reads the latest without restarting.
  const latest = useRef(options);
  latest.current = options;

  useEffect(() => {
    if (!taskId) return;
    const controller = new AbortController();
    const { types, coalesce } = latest.current;
    (async () => {
      const stream = await subscribeTask(taskId, {
        signal: controller.signal,
        types,
        coalesce,
        storage: null, // the view starts empty on every mount: always replay from the start
        onUnknownEvent: (e) => latest.current.onUnknownEvent?.(e),
      });
      for await (const e of stream) {
        setState((s) => {
          const before = s.id === taskId ? s.view : EMPTY;
          const view = foldEvent(before, e);
          return view === before && s.id === taskId ? s : { id: taskId, view };
        });
      }
    })().catch((err: unknown) => {
      if (!controller.signal.aborted) latest.current.onError?.(err);
    });
    return () => controller.abort();
  }, [taskId]);

  return state.id === taskId ? state.view : EMPTY;
}

export interface SessionMessages {
  /** The session's questions and answers; an answer still streaming is live (`message.run`). */
  messages: ChatMessage[];
  loading: boolean;
  error?: unknown;
  /** Fetches the session again (after submitting a task to it, say). */
  reload: () => void;
}

/**
 * A session's messages: its stored tasks, and the live view of each one still running (streamed from
 * its start). When a live task ends the session is fetched again, so its answer is the stored one.
 */
export function useSessionMessages(sessionId: string | null | undefined): SessionMessages {
  const [history, setHistory] = useState<{ id: string; tasks: TaskHistory[] } | null>(null);
  const [live, setLive] = useState<Readonly<Record<string, RunView>>>({});
  const [error, setError] = useState<unknown>();
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    if (!sessionId) return;
    const controller = new AbortController();
    const { signal } = controller;
    const follow = async (taskId: string) => {
      const stream = await subscribeTask(taskId, { signal, storage: null });
      for await (const e of stream) {
        setLive((all) => {
          const view = foldEvent(all[taskId] ?? EMPTY, e);
          return view === all[taskId] ? all : { ...all, [taskId]: view };
        });
      }
      if (!signal.aborted) reload(); // it ended: the stored task now has the answer and its sources
    };
    getSessionHistory(sessionId)
      .then((h) => {
        if (signal.aborted) return;
        setHistory({ id: sessionId, tasks: h.tasks });
        setError(undefined);
        for (const t of h.tasks) if (isLive(t.status)) follow(t.workflow_id).catch((e: unknown) => signal.aborted || setError(e));
      })
      .catch((e: unknown) => signal.aborted || setError(e));
    return () => controller.abort();
  }, [sessionId, generation, reload]);

  const current = sessionId && history?.id === sessionId ? history : null;
  const messages = useMemo(() => (current ? foldSession(current.tasks, live) : []), [current, live]);
  return { messages, loading: Boolean(sessionId) && !current && error === undefined, error, reload };
}

export interface SubmitState {
  status: "idle" | "submitting" | "submitted" | "error";
  /** The submitted task: pass `taskId` to `useTaskRun`. */
  taskId?: string;
  sessionId?: string;
  error?: unknown;
}

/** `submit` a task and the state of the last submission; `submit` also resolves (or rejects) with it. */
export function useSubmitTask(): SubmitState & {
  submit: (request: SubmitTaskRequest, idempotencyKey?: string) => Promise<SubmitTaskResponse>;
  reset: () => void;
} {
  const [state, setState] = useState<SubmitState>({ status: "idle" });
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => void (mounted.current = false);
  }, []);
  // Only the newest submission updates the state (a double click does not show the older one).
  const last = useRef(0);
  const submit = useCallback(async (request: SubmitTaskRequest, idempotencyKey?: string) => {
    const mine = ++last.current;
    const settle = (s: SubmitState) => mounted.current && mine === last.current && setState(s);
    settle({ status: "submitting" });
    try {
      const r = await submitTask(request, idempotencyKey);
      settle({ status: "submitted", taskId: r.task_id, sessionId: r.session_id });
      return r;
    } catch (error) {
      settle({ status: "error", error });
      throw error;
    }
  }, []);
  const reset = useCallback(() => {
    last.current++;
    setState({ status: "idle" });
  }, []);
  return { ...state, submit, reset };
}
