//! A task's replay ring: its most recent visible (stored) events in memory, so subscribers that
//! resume or fall behind read memory instead of the database while the task is recent.

use std::collections::VecDeque;

use super::{StreamPos, TaskEvent};

#[derive(Debug, Default)]
pub(super) struct Ring {
    events: VecDeque<(StreamPos, TaskEvent)>,
    /// Everything after this position is in the ring (older events were evicted or never loaded).
    floor: StreamPos,
    pub bytes: usize,
}

pub(super) fn approx_bytes(e: &TaskEvent) -> usize {
    // The struct, its strings and the payload's JSON text, roughly.
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
        let start = self.events.partition_point(|(p, _)| *p <= after);
        Some(
            self.events
                .range(start..)
                .take(max)
                .map(|(_, e)| e.clone())
                .collect(),
        )
    }

    /// Appends a visible event; returns its approximate size.
    pub fn push(&mut self, pos: StreamPos, event: TaskEvent) -> usize {
        let size = approx_bytes(&event);
        self.events.push_back((pos, event));
        self.bytes += size;
        size
    }

    /// Evicts the oldest event; returns the bytes freed.
    pub fn pop_front(&mut self) -> usize {
        let Some((pos, e)) = self.events.pop_front() else {
            return 0;
        };
        self.floor = pos;
        let freed = approx_bytes(&e);
        self.bytes -= freed;
        freed
    }
}
