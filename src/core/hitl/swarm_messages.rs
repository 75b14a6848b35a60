//! Messages from the user to a running swarm's lead (`POST /api/v1/swarm/{id}/message`), stored so
//! none is lost: the lead reads those after the last it saw at its next decision.

use serde::{Deserialize, Serialize};

use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::store::swarm_messages as store;
use crate::core::tasks::Strategy;
use crate::core::{Core, time};

/// A message is at most this long (the cloud's limit).
const MAX_MESSAGE_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SwarmMessageSent {
    pub success: bool,
    pub status: String,
}

impl Core {
    /// Sends a message to the lead of one of the caller's running swarm tasks. Another user's task:
    /// 404; a task that is not a running swarm: 409.
    pub async fn send_swarm_message(
        &self,
        caller: &Caller,
        id: &str,
        message: &str,
    ) -> Result<SwarmMessageSent> {
        let message = message.trim();
        if message.is_empty() {
            return Err(ShannonError::invalid("message is required"));
        }
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(ShannonError::invalid("message is longer than 32 KB"));
        }
        let task = self.owned_task(caller, id).await?;
        if let crate::core::tasks::Executor::Remote(profile) = task.executor()? {
            return self
                .send_remote_swarm_message(&task, &profile, message)
                .await;
        }
        let swarm = task.strategy() == Strategy::Swarm;
        if !swarm || task.status.is_terminal() {
            return Err(ShannonError::Conflict(
                "the task is not a running swarm".into(),
            ));
        }
        let (wf, user, text) = (
            task.workflow_id,
            caller.user_id.clone(),
            message.to_string(),
        );
        self.store()
            .write(move |tx| {
                store::insert(tx, &wf, &user, &text, &time::now())?;
                Ok(())
            })
            .await?;
        Ok(SwarmMessageSent {
            success: true,
            status: "sent".into(),
        })
    }

    /// The user's messages to a swarm after `seq`, oldest first.
    pub(crate) async fn swarm_messages_after(
        &self,
        workflow_id: &str,
        seq: i64,
    ) -> Result<Vec<(i64, String)>> {
        let wf = workflow_id.to_string();
        self.store()
            .read(move |c| {
                let rows = store::list_after(c, &wf, seq)?;
                Ok(rows.into_iter().map(|m| (m.seq, m.message)).collect())
            })
            .await
    }
}
