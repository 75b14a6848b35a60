//! A remote session's changes made where it lives: a rename or a delete goes to its cloud first
//! (the cloud holds the team's history), then to the mirror. An unreachable cloud refuses the change
//! rather than letting the two disagree.

use reqwest::Method;
use serde_json::json;

use super::client::urlenc;
use crate::core::Core;
use crate::core::error::Result;
use crate::core::store;
use crate::core::tasks::Executor;

/// What to do to a remote session.
pub(crate) enum SessionChange<'a> {
    Rename(&'a str),
    Delete,
}

impl Core {
    /// Applies `change` on the session's cloud when the session (a local id) lives on one; a local
    /// session is left to the caller.
    pub(crate) async fn change_remote_session(
        &self,
        session_id: &str,
        change: SessionChange<'_>,
    ) -> Result<()> {
        let sid = session_id.to_string();
        let (executor, remote_id) = self
            .store()
            .read(move |c| {
                Ok((
                    store::remote::session_executor(c, &sid)?,
                    store::remote::remote_session_id(c, &sid)?,
                ))
            })
            .await?;
        let Some(Executor::Remote(profile)) =
            executor.as_deref().and_then(|e| Executor::from_db(e).ok())
        else {
            return Ok(());
        };
        let cloud = self.cloud(&profile).await?;
        let path = format!(
            "/api/v1/sessions/{}",
            urlenc(remote_id.as_deref().unwrap_or(session_id))
        );
        let (method, body, what) = match change {
            SessionChange::Rename(title) => (
                Method::PATCH,
                Some(json!({"title": title})),
                "rename the session",
            ),
            SessionChange::Delete => (Method::DELETE, None, "delete the session"),
        };
        match cloud.json(self, method, &path, body.as_ref(), &[]).await? {
            Ok(_) => Ok(()),
            // Already gone there: the mirror follows.
            Err(r)
                if r.status == reqwest::StatusCode::NOT_FOUND
                    && matches!(what, "delete the session") =>
            {
                Ok(())
            }
            Err(r) => Err(cloud.refused(what, r)),
        }
    }
}
