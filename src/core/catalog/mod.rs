//! What the engine offers beyond tasks, as catalogues a client can list: skills (prompts with a
//! role, a budget and tools), agents (one tool each, no model) and tools (run directly).

pub mod agents;
pub mod skills;
pub mod tools;
