//! The human in the loop: approvals of plans and dangerous tool calls (and the tools granted ahead),
//! research plan review, and the user's messages to a running swarm.

pub mod approvals;
pub mod reviews;
pub mod swarm_messages;
