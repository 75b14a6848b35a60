//! Fork: a session continued on the other backend. Its completed turns are copied into a new local
//! session (as finished local tasks, so they are the new session's memory), and the original stays
//! where it was. Nothing moves silently: continuing a remote session offline is this explicit step.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::core::auth::Caller;
use crate::core::error::Result;
use crate::core::store;
use crate::core::{Core, time};

/// What a fork made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ForkedSession {
    /// The new local session.
    pub session_id: String,
    /// The session it was forked from.
    pub forked_from: String,
    /// Turns copied (completed tasks).
    pub turns: u32,
}

impl Core {
    /// Copies a session (typically a remote one, to work offline) into a new local session whose
    /// history is the original's completed turns. Works from the local mirror: no network.
    pub async fn fork_session(&self, caller: &Caller, session_id: &str) -> Result<ForkedSession> {
        let original = self.get_session(caller, session_id).await?;
        let title = original
            .title
            .clone()
            .or(original.latest_task_query.clone())
            .map(|t| format!("{} (fork)", crate::core::streams::clip(&t, 80)));
        let (user, from) = (caller.user_id.clone(), original.session_id.clone());
        let new_session = uuid::Uuid::new_v4().to_string();
        let ns = new_session.clone();
        let turns = self
            .store()
            .write(move |tx| {
                let now = time::now();
                let context = json!({"created_from": "fork", "forked_from": from}).to_string();
                store::sessions::insert(tx, &ns, &user, None, &context, &now)?;
                if let Some(t) = &title {
                    store::sessions::rename(tx, &ns, t, &now)?;
                }
                let turns = store::remote::completed_turns(tx, &from)?;
                for (i, wf) in turns.iter().enumerate() {
                    let id = uuid::Uuid::new_v4().to_string();
                    let new_wf = format!(
                        "task-{user}-{}-fork{i}-{}",
                        time::unix_now(),
                        &uuid::Uuid::new_v4().simple().to_string()[..8]
                    );
                    store::remote::copy_turn(tx, wf, &ns, &id, &new_wf, &now)?;
                }
                Ok(turns.len() as u32)
            })
            .await?;
        if turns == 0 {
            tracing::debug!(
                session = session_id,
                "forked a session with no completed turn"
            );
        }
        Ok(ForkedSession {
            session_id: new_session,
            forked_from: original.session_id,
            turns,
        })
    }
}
