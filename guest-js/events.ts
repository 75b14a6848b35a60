// Which events this package knows: the bindings' catalogue (EVENT_TYPES, generated from the engine's).
// An engine newer than this package may send a type outside it, which subscribers get apart from
// `TaskEvent`s (`onUnknownEvent`) so that a `switch (e.type)` over the catalogue stays exhaustive.
import { EVENT_TYPES, type TaskEvent, type UnknownTaskEvent } from "./bindings.js";

const KNOWN: ReadonlySet<string> = new Set(EVENT_TYPES);

/** True when `e.type` is in the catalogue this package was built with (its payload then has its type). */
export function isKnownEvent(e: TaskEvent | UnknownTaskEvent): e is TaskEvent {
  return KNOWN.has(e.type);
}
