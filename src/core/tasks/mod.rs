//! Tasks: submission (validation into a plan, the stored row, the run's start), control (pause,
//! resume, cancel) and the read side (a task, lists, progress and output, the timeline).

pub mod control;
pub mod executor;
pub mod list;
pub mod progress;
pub mod read;
pub mod request;
pub mod strategy;
pub mod submit;
pub mod timeline;

pub use executor::Executor;
pub use request::SubmitTaskRequest;
pub use strategy::Strategy;
