//! A task's replay ring: its most recent visible (stored) events in memory, so subscribers that
//! resume or fall behind read memory instead of the database while the task is recent.

use std::collections::VecDeque;

use super::{StreamPos, TaskEvent};

#[derive(Debug, Default)]
pub(crate) struct Ring {
    /// Each event with its position and approximate size (measured once, when it was queued).
    events: VecDeque<(StreamPos, TaskEvent, usize)>,
    /// Everything after this position is in the ring (older events were evicted or never loaded).
    floor: StreamPos,
    pub bytes: usize,
}

/// The struct, its strings and the payload's JSON text, roughly; measured once per event, when it is
/// queued (the payload is serialized to count it).
pub(crate) fn approx_bytes(e: &TaskEvent) -> usize {
    200 + e.workflow_id.len()
        + e.event_type.len()
        + e.message.as_ref().map_or(0, String::len)
        + e.payload.as_ref().map_or(0, |p| p.to_string().len())
}

impl Ring {
    /// An empty ring for a stream whose events up to `floor` are in the database only.
    pub fn starting_after(floor: StreamPos) -> Self {
        Self {
            floor,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Up to `max` events after `after`, if the ring still holds all of them.
    pub fn after(&self, after: StreamPos, max: usize) -> Option<Vec<TaskEvent>> {
        if after < self.floor {
            return None;
        }
        // Positions ascend, so the first wanted event is found by binary search.
        let start = self.events.partition_point(|(p, _, _)| *p <= after);
        Some(
            self.events
                .range(start..)
                .take(max)
                .map(|(_, e, _)| e.clone())
                .collect(),
        )
    }

    /// Appends a visible event of approximately `size` bytes.
    pub fn push(&mut self, pos: StreamPos, event: TaskEvent, size: usize) {
        self.events.push_back((pos, event, size));
        self.bytes += size;
    }

    /// Evicts the oldest event; returns the bytes freed.
    pub fn pop_front(&mut self) -> usize {
        let Some((pos, _, freed)) = self.events.pop_front() else {
            return 0;
        };
        self.floor = pos;
        self.bytes -= freed;
        freed
    }
}
