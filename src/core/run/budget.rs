//! Token and cost budgets of a task: a warning once past 80 %, a stop once over. A check returns a
//! decision; the run emits and stops.

use serde_json::{Value, json};

pub const WARNING_PERCENT: f64 = 80.0;

/// One budget: what it limits, its size, and whether its warning went out.
#[derive(Debug, Clone)]
struct Limit {
    kind: BudgetKind,
    budget: f64,
    warned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BudgetKind {
    Tokens,
    Cost,
}

/// A budget crossed its warning threshold: the BUDGET_THRESHOLD message and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetWarning {
    pub message: String,
    pub payload: Value,
}

/// What the run does after a model call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BudgetDecision {
    pub warnings: Vec<BudgetWarning>,
    /// Set when a budget is exceeded: the task fails with this reason.
    pub exceeded: Option<String>,
}

/// The budgets of one run.
#[derive(Debug, Clone, Default)]
pub struct Budgets {
    limits: Vec<Limit>,
}

impl Budgets {
    pub fn new(token_budget: Option<u64>, cost_budget_usd: Option<f64>) -> Self {
        let limit = |kind, budget: f64| Limit {
            kind,
            budget,
            warned: false,
        };
        let limits = token_budget
            .map(|b| limit(BudgetKind::Tokens, b as f64))
            .into_iter()
            .chain(cost_budget_usd.map(|b| limit(BudgetKind::Cost, b)))
            .collect();
        Self { limits }
    }

    /// Checks the task's totals so far; each warning is given once.
    pub fn check(&mut self, tokens_used: u64, cost_usd: f64) -> BudgetDecision {
        let mut decision = BudgetDecision::default();
        for limit in &mut self.limits {
            let used = match limit.kind {
                BudgetKind::Tokens => tokens_used as f64,
                BudgetKind::Cost => cost_usd,
            };
            let pct = used * 100.0 / limit.budget;
            if pct >= WARNING_PERCENT && !limit.warned {
                limit.warned = true;
                decision
                    .warnings
                    .push(limit.warning(pct, tokens_used, cost_usd));
            }
            if used > limit.budget && decision.exceeded.is_none() {
                decision.exceeded = Some(limit.exceeded(tokens_used, cost_usd));
            }
        }
        decision
    }
}

impl Limit {
    fn warning(&self, pct: f64, tokens: u64, cost: f64) -> BudgetWarning {
        let base =
            json!({"usage_percent": pct, "threshold_percent": WARNING_PERCENT, "level": "warning"});
        let (label, extra) = match self.kind {
            BudgetKind::Tokens => (
                "Task budget",
                json!({"tokens_used": tokens, "tokens_budget": self.budget as u64, "budget_type": "task"}),
            ),
            BudgetKind::Cost => (
                "Task cost budget",
                json!({"cost_usd": cost, "cost_budget_usd": self.budget, "budget_type": "cost"}),
            ),
        };
        let mut payload = base;
        if let (Some(p), Value::Object(x)) = (payload.as_object_mut(), extra) {
            p.extend(x);
        }
        BudgetWarning {
            message: format!("{label} at {pct:.1}% (threshold: {WARNING_PERCENT}%)"),
            payload,
        }
    }

    fn exceeded(&self, tokens: u64, cost: f64) -> String {
        match self.kind {
            BudgetKind::Tokens => format!(
                "token budget exceeded: the task used {tokens} tokens of its {}-token budget",
                self.budget as u64
            ),
            BudgetKind::Cost => format!(
                "cost budget exceeded: the task cost ${cost:.4} of its ${:.4} budget",
                self.budget
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_past_eighty_percent_and_stops_when_over() {
        let mut b = Budgets::new(Some(100), None);
        assert_eq!(b.check(50, 0.0), BudgetDecision::default());
        let d = b.check(85, 0.0);
        assert_eq!(d.warnings.len(), 1);
        assert_eq!(d.warnings[0].payload["tokens_budget"], 100);
        assert_eq!(
            d.warnings[0].message,
            "Task budget at 85.0% (threshold: 80%)"
        );
        assert!(d.exceeded.is_none());
        let d = b.check(101, 0.0);
        assert!(d.warnings.is_empty(), "the warning is given once");
        assert_eq!(
            d.exceeded.as_deref(),
            Some("token budget exceeded: the task used 101 tokens of its 100-token budget")
        );
    }

    #[test]
    fn cost_budget_is_checked_beside_the_token_budget() {
        let mut b = Budgets::new(Some(1_000_000), Some(0.01));
        let d = b.check(10, 0.009);
        assert_eq!(d.warnings[0].payload["budget_type"], "cost");
        let d = b.check(10, 0.02);
        assert!(d.exceeded.unwrap().starts_with("cost budget exceeded"));
        assert!(
            Budgets::default()
                .check(u64::MAX, f64::MAX)
                .exceeded
                .is_none()
        );
    }
}
