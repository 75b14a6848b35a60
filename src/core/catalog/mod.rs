//! What the engine offers beyond tasks, as catalogues a client can list: skills (prompts with a
//! role, a budget and tools), agents (one tool each, no model), tools (run directly) and the models
//! of the configured providers by tier.

pub mod agents;
pub mod llm_models;
pub mod skills;
pub mod tools;
