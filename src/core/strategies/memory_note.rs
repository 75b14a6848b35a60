//! Memory notes (see docs/upstream.md#catalogues-workspaces-and-memory): after a long task, when
//! the user turned memory on (setting `memory.enabled`), one model call (agent `memory`) decides
//! whether the task taught something worth keeping and writes it as a short markdown note in the
//! user's memory folder, indexed in `MEMORY.md` (newest first, at most 50 entries). Agents of later
//! tasks read the folder as `/memory/`. Unlike the cloud (swarm only), any long task may leave a
//! note.

use serde_json::json;

use super::{Halt, Outcome, Team, plan};
use crate::core::files::Workspace;
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;
use crate::core::streams::clip;

/// A task is long enough to remember when its answer is at least this long …
const MIN_ANSWER_CHARS: usize = 500;
/// … and it was a team's work or used at least this many tokens.
const MIN_TOKENS: u64 = 3000;
const INDEX: &str = "MEMORY.md";
const MAX_INDEX_ENTRIES: usize = 50;

/// Whether this task should leave a note.
pub(crate) fn wanted(team: &Team, outcome: &Outcome, team_run: bool) -> bool {
    outcome.answer.chars().count() >= MIN_ANSWER_CHARS
        && (team_run || team.usage().total_tokens >= MIN_TOKENS)
}

/// Asks for the note and writes it. A note that cannot be written is a warning, never a failure
/// of the task whose answer is ready.
pub(crate) async fn write(team: &Team, query: &str, outcome: &Outcome) -> Result<(), Halt> {
    let Ok(folder) = Workspace::of_user_memory(team.core.data_dir(), &team.user_id) else {
        return Ok(());
    };
    let brief = format!(
        "Request: {}\n\nAnswer:\n{}",
        clip(query, 2000),
        clip(&outcome.answer, 6000)
    );
    let key = StepKey::named("memory_note").then("call", 1);
    let answer = match team.ask("memory", &key, NOTE_PROMPT, brief, true).await {
        Ok(a) => a,
        Err(Halt::Failed(_)) => return Ok(()),
        Err(stop) => return Err(stop),
    };
    let Some(v) = plan::read_json(&answer.text) else {
        return Ok(());
    };
    let title = v["title"].as_str().unwrap_or_default().trim().to_string();
    let summary = v["summary"].as_str().unwrap_or_default().trim().to_string();
    let content = v["content"].as_str().unwrap_or_default().trim().to_string();
    if v["worth_remembering"].as_bool() == Some(false)
        || title.is_empty()
        || summary.chars().count() < 20
        || content.chars().count() < 100
    {
        return Ok(());
    }
    let file = format!("{}.md", slug(v["filename"].as_str().unwrap_or(&title)));
    let saved = folder
        .write(&file, format!("# {title}\n\n{content}\n").as_bytes())
        .and_then(|()| update_index(&folder, &file, &title, &clip(&summary, 400)));
    match saved {
        Ok(()) => team.emit(
            EventType::Progress,
            "memory",
            format!("Saved a memory note: {title}"),
            Some(json!({"path": format!("/memory/{file}"), "title": title})),
        ),
        Err(e) => team.emit(
            EventType::Warning,
            "memory",
            format!("Could not save a memory note: {e}"),
            None,
        ),
    }
    Ok(())
}

/// `MEMORY.md` with this note first (an older entry for the same file replaced).
fn update_index(
    folder: &Workspace,
    file: &str,
    title: &str,
    summary: &str,
) -> crate::core::error::Result<()> {
    let old = folder
        .read(INDEX)
        .map(|b| String::from_utf8_lossy(&b).to_string())
        .unwrap_or_default();
    let link = format!("]({file})");
    let entries: Vec<&str> = old
        .lines()
        .filter(|l| l.starts_with("- ") && !l.contains(&link))
        .take(MAX_INDEX_ENTRIES - 1)
        .collect();
    let mut index = format!("# Memory\n\n- [{title}]({file}) — {summary}\n");
    for e in entries {
        index.push_str(e);
        index.push('\n');
    }
    folder.write(INDEX, index.as_bytes())
}

/// A flat, safe file name: lowercase letters, digits and dashes.
fn slug(name: &str) -> String {
    let name = name.trim().trim_end_matches(".md");
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(60).collect();
    if out.is_empty() || out == "memory" {
        "note".into()
    } else {
        out
    }
}

const NOTE_PROMPT: &str = "You keep a user's long-term memory. From a finished task, decide whether \
it holds something worth remembering for later tasks (facts the user gave, preferences, decisions, \
conclusions they will build on). Answer with one JSON object only: {\"worth_remembering\": \
true|false, \"title\": \"a short title\", \"filename\": \"short-file-name\", \"summary\": \"one \
sentence\", \"content\": \"the note itself, in markdown, a few lines\"}.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_flat_and_safe() {
        assert_eq!(slug("../../etc/Passwd.md"), "etc-passwd");
        assert_eq!(slug("Trip to Kyōto, 2027!"), "trip-to-ky-to-2027");
        assert_eq!(slug("///"), "note");
        assert_eq!(slug("MEMORY"), "note");
    }
}
