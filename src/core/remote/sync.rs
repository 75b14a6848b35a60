//! Sessions made on a cloud by other clients (the team's history, the cloud's own UI), brought into
//! the session list with their backend: `sync_remote_sessions` lists the cloud's sessions (paced by
//! its rate limit: one page of 100 per call, a 429 reported with its wait) and mirrors the ones the
//! laptop does not know. Their tasks are read from the cloud until a history pull copies them.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::urlenc;
use crate::core::auth::Caller;
use crate::core::error::Result;
use crate::core::store::remote_mirror::{self as mirror, MirroredSession};
use crate::core::store::sessions::TaskHistory;
use crate::core::tasks::Executor;
use crate::core::{Core, time};

/// Sessions read from a cloud at most per call (the route's largest page).
const PAGE: u32 = 100;

/// What a session sync did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SessionSync {
    pub profile_id: String,
    /// Sessions the cloud listed (this page).
    pub seen: u32,
    /// Of those, new to the session list.
    pub added: u32,
    /// All the cloud holds for this user.
    pub total: u32,
    /// The offset to ask for next when more remain.
    pub next_offset: Option<u32>,
    pub synced_at: String,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

impl Core {
    /// Mirrors one page (100, from `offset`) of the caller's sessions on the cloud `profile_id`.
    pub async fn sync_remote_sessions(
        &self,
        caller: &Caller,
        profile_id: &str,
        offset: Option<u32>,
    ) -> Result<SessionSync> {
        let cloud = self.cloud(profile_id).await?;
        let offset = offset.unwrap_or(0);
        let path = format!("/api/v1/sessions?limit={PAGE}&offset={offset}");
        let v = match cloud.json(self, Method::GET, &path, None, &[]).await? {
            Ok((v, _)) => v,
            Err(r) => return Err(cloud.refused("list the sessions", r)),
        };
        let listed = v
            .get("sessions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = v.get("total_count").and_then(Value::as_u64).unwrap_or(0) as u32;
        let seen = listed.len() as u32;
        let (user, executor, now) = (
            caller.user_id.clone(),
            Executor::Remote(profile_id.to_string()).db(),
            time::now(),
        );
        let added = self
            .store()
            .write(move |tx| {
                let mut added = 0;
                for s in &listed {
                    let Some(remote_id) = text(s, "session_id") else {
                        continue;
                    };
                    if mirror::session_by_remote_id(tx, &user, &executor, remote_id)?.is_some() {
                        continue;
                    }
                    let context = s.get("context").cloned().unwrap_or_else(|| json!({}));
                    let title = text(s, "title").or_else(|| text(&context, "title"));
                    let created = text(s, "created_at").unwrap_or(&now);
                    let local_id = if crate::core::store::sessions::id_taken(tx, remote_id)? {
                        uuid::Uuid::new_v4().to_string()
                    } else {
                        remote_id.to_string()
                    };
                    mirror::insert_session(
                        tx,
                        &MirroredSession {
                            id: &local_id,
                            user_id: &user,
                            executor: &executor,
                            remote_id,
                            title,
                            context: &context.to_string(),
                            created_at: created,
                            updated_at: text(s, "updated_at").unwrap_or(created),
                        },
                    )?;
                    added += 1;
                }
                Ok(added)
            })
            .await?;
        let next = offset + seen;
        Ok(SessionSync {
            profile_id: profile_id.to_string(),
            seen,
            added,
            total,
            next_offset: (seen > 0 && next < total).then_some(next),
            synced_at: time::now(),
        })
    }

    /// The tasks of a remote session the mirror holds none of, read from its cloud (`None` when it
    /// cannot be: the caller shows the mirror).
    pub(crate) async fn remote_history_of(
        &self,
        session_id: &str,
        profile: &str,
    ) -> Option<Vec<TaskHistory>> {
        let sid = session_id.to_string();
        let remote_id = self
            .store()
            .read(move |c| crate::core::store::remote::remote_session_id(c, &sid))
            .await
            .ok()
            .flatten()?;
        let cloud = self.cloud(profile).await.ok()?;
        let path = format!("/api/v1/sessions/{}/history", urlenc(&remote_id));
        let (v, _) = cloud
            .json(self, Method::GET, &path, None, &[])
            .await
            .ok()?
            .ok()?;
        Some(
            v.get("tasks")?
                .as_array()?
                .iter()
                .filter_map(|t| serde_json::from_value(t.clone()).ok())
                .collect(),
        )
    }
}
