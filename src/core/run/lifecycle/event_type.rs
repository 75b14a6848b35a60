//! The event catalogue (see docs/upstream.md#streaming-and-events): every type the engine emits,
//! its wire name and its SSE name.

macro_rules! event_types {
    ($($variant:ident = $name:literal $(=> $sse:literal)?,)*) => {
        /// One type of the cloud's event catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $(#[doc = concat!("The `", $name, "` event.")] $variant,)*
        }

        impl EventType {
            /// Every type of the catalogue, in declaration order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The stored and streamed `type` (`LLM_OUTPUT`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                }
            }

            /// Reads a stored or client-given type (one `match`: it runs per event per subscriber).
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some(EventType::$variant),)*
                    _ => None,
                }
            }

            /// The SSE `event:` name: the cloud renames a few (`LLM_PARTIAL` is
            /// `thread.message.delta`); the rest keep their type.
            pub const fn sse_name(self) -> &'static str {
                match self {
                    $(EventType::$variant => event_types!(@sse $name $(, $sse)?),)*
                }
            }
        }
    };
    (@sse $name:literal) => { $name };
    (@sse $name:literal, $sse:literal) => { $sse };
}

event_types! {
    DataProcessing = "DATA_PROCESSING",
    WorkflowStarted = "WORKFLOW_STARTED",
    WorkflowCompleted = "WORKFLOW_COMPLETED",
    WorkflowFailed = "WORKFLOW_FAILED",
    StreamEnd = "STREAM_END" => "done",
    AgentStarted = "AGENT_STARTED",
    AgentCompleted = "AGENT_COMPLETED",
    AgentFailed = "AGENT_FAILED",
    AgentThinking = "AGENT_THINKING",
    ErrorOccurred = "ERROR_OCCURRED" => "error",
    ErrorRecovery = "ERROR_RECOVERY",
    Warning = "WARNING",
    Waiting = "WAITING",
    LlmPrompt = "LLM_PROMPT",
    LlmPartial = "LLM_PARTIAL" => "thread.message.delta",
    LlmOutput = "LLM_OUTPUT" => "thread.message.completed",
    ToolInvoked = "TOOL_INVOKED",
    ToolObservation = "TOOL_OBSERVATION",
    ToolError = "TOOL_ERROR",
    Progress = "PROGRESS",
    Delegation = "DELEGATION",
    RoleAssigned = "ROLE_ASSIGNED",
    TeamRecruited = "TEAM_RECRUITED",
    TeamRetired = "TEAM_RETIRED",
    TeamStatus = "TEAM_STATUS",
    MessageSent = "MESSAGE_SENT",
    MessageReceived = "MESSAGE_RECEIVED",
    WorkspaceUpdated = "WORKSPACE_UPDATED",
    TaskListUpdated = "TASKLIST_UPDATED",
    LeadDecision = "LEAD_DECISION",
    HitlResponse = "HITL_RESPONSE",
    ResearchPlanReady = "RESEARCH_PLAN_READY",
    ResearchPlanUpdated = "RESEARCH_PLAN_UPDATED",
    ResearchPlanApproved = "RESEARCH_PLAN_APPROVED",
    ReviewUserFeedback = "REVIEW_USER_FEEDBACK",
    DependencySatisfied = "DEPENDENCY_SATISFIED",
    BudgetThreshold = "BUDGET_THRESHOLD",
    Synthesis = "SYNTHESIS",
    Reflection = "REFLECTION",
    ApprovalRequested = "APPROVAL_REQUESTED",
    ApprovalDecision = "APPROVAL_DECISION",
    WorkflowPausing = "WORKFLOW_PAUSING" => "workflow.pausing",
    WorkflowPaused = "WORKFLOW_PAUSED" => "workflow.paused",
    WorkflowResumed = "WORKFLOW_RESUMED" => "workflow.resumed",
    WorkflowCancelling = "WORKFLOW_CANCELLING" => "workflow.cancelling",
    WorkflowCancelled = "WORKFLOW_CANCELLED" => "workflow.cancelled",
    Heartbeat = "HEARTBEAT",
    Ping = "PING",
}

impl EventType {
    /// The transient types, for checking a stored type's text without parsing it.
    pub const TRANSIENT: [EventType; 4] = [
        EventType::LlmPrompt,
        EventType::LlmPartial,
        EventType::Heartbeat,
        EventType::Ping,
    ];

    /// Streamed live but never stored, as the cloud (they carry the seq of the last stored event).
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            EventType::LlmPartial | EventType::LlmPrompt | EventType::Heartbeat | EventType::Ping
        )
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::EventType;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for &t in EventType::ALL {
            assert!(seen.insert(t.as_str()), "{t} listed twice");
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("NOT_AN_EVENT"), None);
    }

    #[test]
    fn the_cloud_renames_a_few_for_sse() {
        assert_eq!(EventType::LlmPartial.sse_name(), "thread.message.delta");
        assert_eq!(EventType::StreamEnd.sse_name(), "done");
        assert_eq!(EventType::ErrorOccurred.sse_name(), "error");
        assert_eq!(EventType::Progress.sse_name(), "PROGRESS");
        assert!(EventType::LlmPartial.is_transient() && !EventType::LlmOutput.is_transient());
        let transient: Vec<_> = EventType::ALL
            .iter()
            .filter(|t| t.is_transient())
            .copied()
            .collect();
        assert_eq!(transient, EventType::TRANSIENT);
    }
}
