//! Files of remote sessions and the remote user's memory, read from the cloud where they live
//! (`GET /api/v1/sessions/{id}/files…`, `GET /api/v1/memory/files…`), listed with their source. The
//! cloud has no upload route: nothing is written there from here.

use reqwest::Method;
use serde_json::Value;

use super::client::{CloudClient, urlenc};
use super::{LOCAL, Target};
use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::files::{FileContent, FileEntry, FileList};
use crate::core::store;
use crate::core::tasks::Executor;

/// A folder on a cloud: the client and the route its listing answers on.
pub(crate) struct RemoteFolder {
    cloud: CloudClient,
    base: String,
}

/// A relative path for a cloud route: segments percent-encoded, `..` and empty ones refused here.
fn encoded_path(path: &str) -> Result<String> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(ShannonError::invalid(format!("invalid path: {path:?}")));
    }
    Ok(parts.into_iter().map(urlenc).collect::<Vec<_>>().join("/"))
}

fn entry(v: &Value) -> Option<FileEntry> {
    Some(FileEntry {
        name: v.get("name")?.as_str()?.to_string(),
        path: v.get("path")?.as_str()?.to_string(),
        is_dir: v.get("is_dir").and_then(Value::as_bool).unwrap_or(false),
        size_bytes: v.get("size_bytes").and_then(Value::as_u64).unwrap_or(0),
    })
}

fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || ["application/json", "application/xml"]
            .iter()
            .any(|t| content_type.starts_with(t))
}

impl Core {
    /// The cloud folder of a session that lives on a cloud; `None` for a local session.
    pub(crate) async fn remote_session_of(
        &self,
        caller: &Caller,
        session: &str,
    ) -> Result<Option<RemoteFolder>> {
        let id = self.owned_session_id(caller, session).await?;
        let (executor, remote_id) = self
            .store()
            .read(move |c| {
                Ok((
                    store::remote::session_executor(c, &id)?,
                    store::remote::remote_session_id(c, &id)?.unwrap_or(id),
                ))
            })
            .await?;
        let Some(Executor::Remote(profile)) =
            executor.as_deref().and_then(|e| Executor::from_db(e).ok())
        else {
            return Ok(None);
        };
        Ok(Some(RemoteFolder {
            cloud: self.cloud(&profile).await?,
            base: format!("/api/v1/sessions/{}/files", urlenc(&remote_id)),
        }))
    }

    /// The memory folder named by `source`: `None` for this device's.
    pub(crate) async fn remote_memory_of(
        &self,
        source: Option<&str>,
    ) -> Result<Option<RemoteFolder>> {
        match Target::parse(source.unwrap_or(LOCAL)) {
            Target::Local => Ok(None),
            Target::Remote(profile) => Ok(Some(RemoteFolder {
                cloud: self.cloud(&profile).await?,
                base: "/api/v1/memory/files".into(),
            })),
        }
    }

    pub(crate) async fn remote_file_list(
        &self,
        folder: &RemoteFolder,
        path: Option<String>,
    ) -> Result<FileList> {
        let cloud = &folder.cloud;
        let route = match path.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => format!("{}?path={}", folder.base, urlenc(p)),
            None => folder.base.clone(),
        };
        match cloud.json(self, Method::GET, &route, None, &[]).await? {
            Ok((v, _)) => Ok(FileList {
                success: true,
                files: v
                    .get("files")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(entry).collect())
                    .unwrap_or_default(),
                source: cloud.profile_id().to_string(),
            }),
            Err(r) => Err(cloud.refused("list the files", r)),
        }
    }

    pub(crate) async fn remote_file(
        &self,
        folder: &RemoteFolder,
        path: &str,
    ) -> Result<FileContent> {
        let cloud = &folder.cloud;
        let route = format!("{}/{}", folder.base, encoded_path(path)?);
        match cloud.json(self, Method::GET, &route, None, &[]).await? {
            Ok((v, _)) => {
                let content_type = v
                    .get("content_type")
                    .and_then(Value::as_str)
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let content = v.get("content").and_then(Value::as_str).unwrap_or("");
                Ok(FileContent {
                    success: true,
                    content: content.to_string(),
                    size_bytes: v
                        .get("size_bytes")
                        .and_then(Value::as_u64)
                        .unwrap_or(content.len() as u64),
                    base64: !is_text(&content_type),
                    content_type,
                })
            }
            Err(r) => Err(cloud.refused("read the file", r)),
        }
    }
}
