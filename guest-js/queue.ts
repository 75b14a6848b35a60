// An unbounded async queue: what a subscription hands its `for await` reader. Pushes never wait
// (the Channel cannot be paused), so nothing is lost; a reader that falls behind only costs memory.

export class EventQueue<T> implements AsyncIterator<T> {
  private items: T[] = [];
  private head = 0;
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private ended = false;

  constructor(private readonly onReturn: () => void) {}

  push(item: T): void {
    if (this.ended) return;
    const w = this.waiting;
    if (w) {
      this.waiting = null;
      w({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  /** Ends the reader: what is queued is still read unless `drop` (an abort stops delivery at once). */
  end(drop = false): void {
    this.ended = true;
    if (drop) this.items = [];
    const w = this.waiting;
    this.waiting = null;
    w?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const value = this.items[this.head++];
      // Drop what was read now and then, so a long stream does not keep every event.
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** `break` in `for await` lands here: the subscription is closed. */
  return(): Promise<IteratorResult<T>> {
    this.end(true);
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }
}
