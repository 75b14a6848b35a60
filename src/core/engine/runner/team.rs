//! A `complex` task: the DAG strategy over the run's provider, then the task's final answer event
//! and the metadata that describes the run (execution mode, agents).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Run, Stop};
use crate::core::engine::budget::Budgets;
use crate::core::engine::lifecycle::EventType;
use crate::core::engine::request::{self, Mode};
use crate::core::engine::strategies::{Halt, Team, route};
use crate::core::llm::ProviderClient;

/// Agents at once when neither the plan nor `max_concurrent_agents` says otherwise.
const DEFAULT_CONCURRENCY: usize = 5;

impl Run {
    pub(super) async fn execute_team(&mut self, client: ProviderClient) -> Result<String, Stop> {
        let steps = std::mem::take(&mut self.journal).into_steps();
        let pricing = self
            .core
            .get_setting(&self.spec.caller, "pricing")
            .await
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s.value).ok());
        let team = Team::new(
            self.core.clone(),
            self.spec.task_id.clone(),
            self.spec.workflow_id.clone(),
            self.spec.provider.clone(),
            self.spec.model.clone(),
            Arc::new(client),
            &self.control,
            steps,
            pricing,
        );
        let ctx = &self.spec.plan.context;
        // In a team `budget_agent_max` is each agent's; the task's is `token_budget`.
        let agent_budget = ["budget_agent_max", "token_budget_per_agent"]
            .iter()
            .find_map(|k| ctx.get(*k).and_then(Value::as_u64))
            .filter(|n| *n > 0);
        let task_budget =
            self.spec.plan.token_budget.filter(|_| {
                ctx.contains_key("token_budget") || ctx.contains_key("budget_total_max")
            });
        let budgets = Budgets::new(task_budget, self.spec.plan.cost_budget_usd);
        let mut team = team.with_budgets(budgets);
        team.temperature = self.spec.plan.temperature;
        team.system_prompt = self.spec.plan.system_prompt.clone();
        team.role = request::str_of(&self.spec.plan.context, "role").map(str::to_string);
        team.context = Arc::new(self.spec.plan.context.clone());
        team.max_tokens = self.spec.plan.max_tokens;
        team.agent_budget = agent_budget;
        let concurrency = self
            .spec
            .plan
            .context
            .get("max_concurrent_agents")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_CONCURRENCY, |n| n.clamp(1, 20) as usize);
        // Agents wait at their own checkpoints while paused (and the hub holds what they stream);
        // the task reports PAUSED at once, for all of them.
        let supervised = self.spec.plan.requested_mode == Mode::Supervisor;
        let run = route::run(&team, &self.spec.plan.query, concurrency, supervised);
        let (result, announced) = self.announcing_pause(run, "agents").await;
        self.paused_announced = announced;
        let outcome = result.map_err(|h| match h {
            Halt::Cancelled => Stop::Cancelled {
                checkpoint: "agents".into(),
                was_paused: *self.control.pause.borrow(),
            },
            Halt::Failed(message) | Halt::Stopped(message) => Stop::Failed(message),
        })?;
        self.checkpoint("pre_completion").await?;
        self.end_metadata = Some(Value::Object(outcome.metadata));
        self.model_used = Some(outcome.model.clone());
        self.emit(
            EventType::LlmOutput,
            "final_output",
            outcome.answer.clone(),
            Some(json!({"tokens_used": outcome.tokens, "model_used": outcome.model, "provider": self.spec.provider})),
        );
        Ok(outcome.answer)
    }
}
