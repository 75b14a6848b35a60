//! The payload of each event type: one Rust type per type that carries one, the one description
//! of its shape. [`check`] holds an event to it (debug builds check every event the engine emits),
//! [`types`] registers the types for the TypeScript bindings, and [`typescript_union`] writes the
//! bindings' `TaskEvent` as a union over the catalogue, discriminated on `type`.
//!
//! The JSON on the wire is what the emission sites build; these types describe it and never
//! change it. A field sometimes absent is `Option` (skipped when `None`).

mod hitl;
mod run;
mod team;

use serde::Deserialize;
use serde_json::Value;

use super::EventType;
pub use hitl::*;
pub use run::*;
pub use team::*;

/// Whether an event type carries a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Never: the event is its type and message.
    Never,
    /// On some emissions only.
    Sometimes,
    /// On every emission.
    Always,
}

/// Reads a payload as its declared type.
type Parse = fn(&Value) -> Result<(), serde_json::Error>;

/// The declared payload of one event type.
#[derive(Clone, Copy)]
pub struct PayloadSpec {
    pub presence: Presence,
    /// The payload type's name (the same in Rust and TypeScript); `None` when it has none.
    pub type_name: Option<&'static str>,
    parse: Option<Parse>,
}

fn parse<T: for<'de> Deserialize<'de>>(v: &Value) -> Result<(), serde_json::Error> {
    T::deserialize(v).map(drop)
}

macro_rules! catalogue {
    ($($variant:ident => $presence:ident $(($ty:ident))?,)*) => {
        /// The payload `t` carries. The match is exhaustive: a new event type needs an entry.
        pub fn spec(t: EventType) -> PayloadSpec {
            match t {
                $(EventType::$variant => PayloadSpec {
                    presence: Presence::$presence,
                    type_name: catalogue!(@name $($ty)?),
                    parse: catalogue!(@parse $($ty)?),
                },)*
            }
        }

        /// Every payload type, for the TypeScript bindings.
        pub fn types() -> specta::Types {
            let mut types = specta::Types::default();
            $($(types.register_mut::<$ty>();)?)*
            types
        }
    };
    (@name) => { None };
    (@name $ty:ident) => { Some(stringify!($ty)) };
    (@parse) => { None };
    (@parse $ty:ident) => { Some(parse::<$ty>) };
}

catalogue! {
    DataProcessing => Never,
    WorkflowStarted => Always(WorkflowStartedPayload),
    WorkflowCompleted => Never,
    WorkflowFailed => Never,
    StreamEnd => Never,
    AgentStarted => Sometimes(AgentStartedPayload),
    AgentCompleted => Sometimes(AgentCompletedPayload),
    AgentFailed => Always(AgentFailedPayload),
    AgentThinking => Sometimes(AgentThinkingPayload),
    ErrorOccurred => Sometimes(ErrorOccurredPayload),
    ErrorRecovery => Always(ErrorRecoveryPayload),
    Warning => Sometimes(WarningPayload),
    Waiting => Always(WaitingPayload),
    LlmPrompt => Always(LlmPromptPayload),
    LlmPartial => Never,
    LlmOutput => Always(LlmOutputPayload),
    ToolInvoked => Always(ToolInvokedPayload),
    ToolObservation => Always(ToolObservationPayload),
    ToolError => Always(ToolErrorPayload),
    Progress => Sometimes(ProgressPayload),
    Delegation => Always(DelegationPayload),
    RoleAssigned => Always(RoleAssignedPayload),
    TeamRecruited => Always(TeamRecruitedPayload),
    TeamRetired => Always(TeamRetiredPayload),
    TeamStatus => Never,
    MessageSent => Always(AgentMessagePayload),
    MessageReceived => Always(AgentMessagePayload),
    WorkspaceUpdated => Always(WorkspaceUpdatedPayload),
    TaskListUpdated => Always(TaskListUpdatedPayload),
    LeadDecision => Always(LeadDecisionPayload),
    HitlResponse => Always(HitlResponsePayload),
    ResearchPlanReady => Always(ResearchPlanReadyPayload),
    ResearchPlanUpdated => Always(ResearchPlanUpdatedPayload),
    ResearchPlanApproved => Always(ReviewRoundPayload),
    ReviewUserFeedback => Always(ReviewRoundPayload),
    DependencySatisfied => Always(DependencySatisfiedPayload),
    BudgetThreshold => Always(BudgetThresholdPayload),
    Synthesis => Always(SynthesisPayload),
    Reflection => Always(ReflectionPayload),
    ApprovalRequested => Always(ApprovalRequestedPayload),
    ApprovalDecision => Always(ApprovalDecisionPayload),
    WorkflowPausing => Never,
    WorkflowPaused => Always(WorkflowPausedPayload),
    WorkflowResumed => Never,
    WorkflowCancelling => Never,
    WorkflowCancelled => Always(WorkflowCancelledPayload),
    Heartbeat => Never,
    Ping => Never,
}

/// Whether `payload` is what `event_type` declares: present when it must be, absent when it has
/// none, and of its type (no unknown field, every required one, each of its JSON type).
pub fn check(event_type: EventType, payload: Option<&Value>) -> Result<(), String> {
    let spec = spec(event_type);
    let name = spec.type_name.unwrap_or("no payload");
    match (spec.presence, payload, spec.parse) {
        (Presence::Never, Some(v), _) => Err(format!("{event_type} carries no payload, got {v}")),
        (Presence::Always, None, _) => Err(format!("{event_type} needs a payload ({name})")),
        (_, Some(v), Some(parse)) => {
            parse(v).map_err(|e| format!("{event_type} payload is not a {name}: {e} in {v}"))
        }
        _ => Ok(()),
    }
}

/// The TypeScript of the event union: `TaskEvent` (closed, so `if (e.type === …)` narrows its
/// payload), `UnknownTaskEvent` (a type a newer engine may send), `TaskEventType` and
/// `EVENT_TYPES`. It refers to `TaskEventBase` (the fields every event has) and to the payload
/// types, which the bindings define.
pub fn typescript_union() -> String {
    let mut out = String::from(
        "/**  One event, in the cloud's shape (see docs/upstream.md#streaming-and-events): its `type` says what its `payload` is. */\n\
         export type TaskEvent =\n",
    );
    for &t in EventType::ALL {
        let s = spec(t);
        let payload = match (s.presence, s.type_name) {
            (Presence::Always, Some(name)) => format!("payload: {name}"),
            (Presence::Sometimes, Some(name)) => format!("payload?: {name} | null"),
            _ => "payload?: null".to_string(),
        };
        out.push_str(&format!(
            "\t| (TaskEventBase & {{ type: \"{}\", {payload} }})\n",
            t.as_str()
        ));
    }
    out.pop();
    out.push_str(";\n\n");
    out.push_str(
        "/**  An event of a type this version of the package does not know (a newer engine). */\n\
         export type UnknownTaskEvent = TaskEventBase & { type: string, payload?: Value | null };\n\n\
         /**  Every event type. */\n\
         export type TaskEventType = TaskEvent[\"type\"];\n\n\
         /**  Every event type, in the catalogue's order. */\n\
         export const EVENT_TYPES = [",
    );
    let names: Vec<String> = EventType::ALL
        .iter()
        .map(|t| format!("\"{}\"", t.as_str()))
        .collect();
    out.push_str(&names.join(", "));
    out.push_str("] as const;\n");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_event_type_has_an_entry() {
        for &t in EventType::ALL {
            let s = spec(t);
            // A type that carries a payload names it; one that never does names none.
            assert_eq!(s.type_name.is_some(), s.presence != Presence::Never, "{t}");
            assert_eq!(s.parse.is_some(), s.type_name.is_some(), "{t}");
        }
        let union = typescript_union();
        for &t in EventType::ALL {
            assert!(
                union.contains(&format!("type: \"{t}\",")),
                "{t} in the union"
            );
        }
    }

    #[test]
    fn a_matching_payload_passes() {
        let p = json!({"approval_id": "a1", "kind": "tool", "reason": "r",
                       "expires_at": "2026-01-01T00:00:00Z", "tool": "shell", "arguments": {"x": 1}});
        assert_eq!(check(EventType::ApprovalRequested, Some(&p)), Ok(()));
        assert_eq!(check(EventType::Progress, None), Ok(()));
        assert_eq!(check(EventType::StreamEnd, None), Ok(()));
        // Null is how an absent optional field is sometimes written.
        let p = json!({"subtask_id": "task-1", "report": null});
        assert_eq!(check(EventType::AgentCompleted, Some(&p)), Ok(()));
    }

    #[test]
    fn a_mismatching_payload_is_refused_with_the_type_and_the_reason() {
        // A number where the id must be a string.
        let p = json!({"approval_id": 7, "kind": "plan", "reason": "r", "expires_at": "t"});
        let err = check(EventType::ApprovalRequested, Some(&p)).unwrap_err();
        assert!(err.contains("APPROVAL_REQUESTED"), "{err}");
        assert!(err.contains("ApprovalRequestedPayload"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
        // A misspelt field.
        let p = json!({"checkpoint": "x", "was_pasued": true});
        let err = check(EventType::WorkflowCancelled, Some(&p)).unwrap_err();
        assert!(err.contains("unknown field `was_pasued`"), "{err}");
        // A required field missing, a required payload missing, a payload where none is declared.
        let err = check(EventType::WorkflowPaused, Some(&json!({}))).unwrap_err();
        assert!(err.contains("missing field `checkpoint`"), "{err}");
        let err = check(EventType::LlmPrompt, None).unwrap_err();
        assert!(err.contains("LLM_PROMPT needs a payload"), "{err}");
        let err = check(EventType::StreamEnd, Some(&json!({}))).unwrap_err();
        assert!(err.contains("STREAM_END carries no payload"), "{err}");
    }
}
