//! Reflection (see docs/upstream.md#strategies): a judge call scores the answer against the
//! question, and an answer under the threshold is rewritten with the judge's feedback, at most
//! twice. Unlike the cloud, whose evaluator is a constant 0.85, the score is the judge model's; it
//! runs when the task asks for it (`context.enable_reflection`), with
//! `context.reflection_threshold` (default 0.7).

use serde_json::{Value, json};

use super::{Halt, Outcome, Team};
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;

const DEFAULT_THRESHOLD: f64 = 0.7;
const MAX_REWRITES: u32 = 2;

/// Scores `outcome.answer` and rewrites it while it scores under the threshold. Records
/// `had_reflection` and `quality_score` in its metadata.
pub(crate) async fn refine(team: &Team, query: &str, outcome: &mut Outcome) -> Result<(), Halt> {
    if !team.flag("enable_reflection") {
        return Ok(());
    }
    let threshold = team
        .context
        .get("reflection_threshold")
        .and_then(Value::as_f64)
        .unwrap_or(DEFAULT_THRESHOLD)
        .clamp(0.0, 1.0);
    let mut score = None;
    for round in 1..=MAX_REWRITES + 1 {
        let key = StepKey::new("reflection", round);
        let Some((s, feedback, tokens)) = judge(team, query, &outcome.answer, &key).await? else {
            break;
        };
        outcome.tokens += tokens;
        score = Some(s);
        let pass = s >= threshold;
        team.emit(
            EventType::Reflection,
            "reflection",
            format!("Scored the answer {s:.2} of 1"),
            Some(json!({"score": s, "threshold": threshold, "feedback": feedback, "round": round, "passed": pass})),
        );
        if pass || round > MAX_REWRITES {
            break;
        }
        let request = format!(
            "Question: {query}\n\nPrevious answer:\n{}\n\nReviewer's feedback:\n{feedback}",
            outcome.answer
        );
        let rewrite = team
            .ask(
                "reflection-synth",
                &key.then_named("rewrite"),
                REWRITE_PROMPT,
                request,
                false,
            )
            .await?;
        outcome.tokens += rewrite.usage.total_tokens;
        outcome.model = rewrite.model;
        outcome.answer = rewrite.text;
    }
    outcome
        .metadata
        .insert("had_reflection".into(), json!(true));
    if let Some(s) = score {
        outcome.metadata.insert("quality_score".into(), json!(s));
    }
    Ok(())
}

/// The judge's score in [0, 1], feedback and tokens; `None` when its call or answer fails (the answer
/// stands as it is).
async fn judge(
    team: &Team,
    query: &str,
    answer: &str,
    key: &StepKey,
) -> Result<Option<(f64, String, u64)>, Halt> {
    let request = format!("Question: {query}\n\nAnswer:\n{answer}");
    let verdict = match team
        .ask(
            "reflection",
            &key.then_named("judge"),
            JUDGE_PROMPT,
            request,
            true,
        )
        .await
    {
        Ok(v) => v,
        Err(Halt::Failed(_)) => return Ok(None),
        Err(stop) => return Err(stop),
    };
    let tokens = verdict.usage.total_tokens;
    Ok(parse_verdict(&verdict.text).map(|(s, f)| (s, f, tokens)))
}

/// `{"score": 0.0-1.0, "feedback": "..."}`, also read from the first `{…}` of a chatty answer; a
/// score out of 10 or 100 is scaled.
fn parse_verdict(text: &str) -> Option<(f64, String)> {
    let v = super::plan::read_json(text)?;
    let raw = v.get("score").and_then(|s| {
        s.as_f64()
            .or_else(|| s.as_str().and_then(|t| t.trim().parse().ok()))
    })?;
    let score = match raw {
        r if r > 10.0 => r / 100.0,
        r if r > 1.0 => r / 10.0,
        r => r,
    }
    .clamp(0.0, 1.0);
    let feedback = v
        .get("feedback")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Some((score, feedback))
}

const JUDGE_PROMPT: &str = "You review answers. Score how well the answer responds to the question: \
complete, correct, specific and clear. Reply with one JSON object only: {\"score\": 0.0-1.0, \
\"feedback\": \"what to improve, concretely\"}.";

const REWRITE_PROMPT: &str = "Rewrite the answer to the question so that it meets the reviewer's \
feedback. Keep what was right; answer the question directly, in the user's language.";

#[cfg(test)]
mod tests {
    use super::parse_verdict;

    #[test]
    fn verdicts_are_read_tolerantly_and_scaled() {
        assert_eq!(
            parse_verdict(r#"{"score": 0.4, "feedback": "too vague"}"#),
            Some((0.4, "too vague".into()))
        );
        assert_eq!(
            parse_verdict("Here: {\"score\": \"8\"} done").map(|v| v.0),
            Some(0.8)
        );
        assert_eq!(parse_verdict(r#"{"score": 85}"#).map(|v| v.0), Some(0.85));
        assert_eq!(parse_verdict("great answer"), None);
    }
}
