//! A task's strategy over the run's provider: the team context ([`Team`]) with the task's budgets,
//! settings and journal, the task's [`Strategy`], then the task's final answer event and the
//! metadata the strategy reports.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Run, Stop};
use crate::core::llm::ProviderClient;
use crate::core::run::budget::Budgets;
use crate::core::run::lifecycle::EventType;
use crate::core::run::setup;
use crate::core::strategies::{
    Halt, Team, agent_call, approval, memory_note, route, simple, standard, supervisor,
};
use crate::core::tasks::{Strategy, request};

/// Agents at once when neither the plan nor `max_concurrent_agents` says otherwise.
const DEFAULT_CONCURRENCY: usize = 5;

impl Run {
    /// The one place a task's [`Strategy`] is dispatched.
    pub(crate) async fn execute_strategy(
        &mut self,
        client: ProviderClient,
    ) -> Result<String, Stop> {
        let one_agent = self.spec.plan.strategy.is_one_agent();
        // A one-agent run answers in the session's conversation, journaled first.
        let messages = if one_agent {
            self.context().await?
        } else {
            Vec::new()
        };
        let tools = setup::toolbox(&self.core, &self.spec).await;
        let mut team = self.team(client, one_agent).await;
        team.tools = Arc::new(tools);
        let team = team;
        let plan = &self.spec.plan;
        let query = plan.query.clone();
        let remember = self
            .core
            .get_setting(&self.spec.caller, "memory.enabled")
            .await
            .is_ok_and(|s| s.value.trim() == "true");
        let work = async {
            if one_agent {
                // A team asks once it has its plan; one agent before it starts.
                approval::plan_gate(&team, &query, None).await?;
            }
            let concurrency = plan
                .context
                .get("max_concurrent_agents")
                .and_then(Value::as_u64)
                .map_or(DEFAULT_CONCURRENCY, |n| n.clamp(1, 20) as usize);
            let outcome = match &plan.strategy {
                Strategy::Agent { name, .. } => {
                    let input = plan.context.get("agent_input").cloned().unwrap_or_default();
                    agent_call::run(&team, name, &input).await
                }
                Strategy::Simple => simple::run(&team, &query, messages).await,
                Strategy::Standard => {
                    standard::run(&team, &query, messages, plan.max_iterations).await
                }
                Strategy::Supervisor => supervisor::run(&team, &query, concurrency).await,
                Strategy::Swarm => route::run_swarm(&team, &query).await,
                Strategy::Research { review } => route::run_research(&team, &query, *review).await,
                Strategy::Cognitive { strategy } => {
                    route::run_planned(&team, &query, concurrency, Some(*strategy)).await
                }
                Strategy::Planned => route::run_planned(&team, &query, concurrency, None).await,
            }?;
            if remember && memory_note::wanted(&team, &outcome, !one_agent) {
                memory_note::write(&team, &query, &outcome).await?;
            }
            Ok(outcome)
        };
        // A team's agents wait at their own checkpoints while paused (and the hub holds what they
        // stream); the task reports PAUSED at once, for all of them, or where its one agent is.
        let place = || if one_agent { team.at() } else { "agents" };
        let (result, announced) = self.announcing_pause(work, &place).await;
        self.paused_announced = announced;
        let outcome = result.map_err(|h| match h {
            Halt::Cancelled => Stop::Cancelled {
                checkpoint: place().into(),
                was_paused: *self.control.pause.borrow(),
            },
            Halt::Failed(message) | Halt::Stopped(message) => Stop::Failed(message),
        })?;
        self.checkpoint("pre_completion").await?;
        if !outcome.metadata.is_empty() {
            self.end_metadata = Some(Value::Object(outcome.metadata));
        }
        let usage = team.usage();
        self.emit(
            EventType::LlmOutput,
            "final_output",
            outcome.answer.clone(),
            Some(json!({
                "tokens_used": usage.total_tokens, "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens, "model_used": outcome.model,
                "provider": self.spec.provider,
            })),
        );
        Ok(outcome.answer)
    }

    /// The run context of the task's agents: its provider, settings, budgets and journal.
    async fn team(&mut self, client: ProviderClient, one_agent: bool) -> Team {
        let steps = std::mem::take(&mut self.journal).into_steps();
        let pricing = self
            .core
            .get_setting(&self.spec.caller, "pricing")
            .await
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s.value).ok());
        let plan = &self.spec.plan;
        let ctx = &plan.context;
        // In a team `budget_agent_max` is each agent's; the task's is `token_budget`.
        let agent_budget = ["budget_agent_max", "token_budget_per_agent"]
            .iter()
            .find_map(|k| ctx.get(*k).and_then(Value::as_u64))
            .filter(|n| *n > 0 && !one_agent);
        let task_budget = plan.token_budget.filter(|_| {
            one_agent || ctx.contains_key("token_budget") || ctx.contains_key("budget_total_max")
        });
        let mut team = Team::new(
            self.core.clone(),
            self.spec.task_id.clone(),
            self.spec.workflow_id.clone(),
            self.spec.provider.clone(),
            self.spec.model.clone(),
            Arc::new(client),
            &self.control,
            steps,
            pricing,
        )
        .with_budgets(Budgets::new(task_budget, plan.cost_budget_usd));
        team.temperature = plan.temperature;
        team.system_prompt = plan.system_prompt.clone();
        team.role = request::str_of(ctx, "role").map(str::to_string);
        team.context = Arc::new(ctx.clone());
        team.max_tokens = plan.max_tokens;
        team.agent_budget = agent_budget;
        team.sequential = one_agent;
        team.user_id = self.spec.caller.user_id.clone();
        team.session_id = Some(self.spec.session_id.clone());
        team
    }
}
