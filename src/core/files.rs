//! Session workspaces (see docs/upstream.md#catalogues-workspaces-and-memory): a directory per
//! session under the data dir, where the file tools work and whose files the user can list and
//! download. Every path is relative to the workspace: an absolute path, a `..` component (also
//! percent-encoded), a NUL, or a symlink on the way is refused, so nothing an agent or a client
//! names leads outside it.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::{Core, store};

/// The most a file tool writes or reads at once.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// The most a workspace holds.
pub const MAX_WORKSPACE_BYTES: u64 = 100 * 1024 * 1024;

/// One session's directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    root: PathBuf,
}

/// `GET /api/v1/sessions/{id}/files`: one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct FileEntry {
    pub name: String,
    pub path: String,
    pub is_dir: bool,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct FileList {
    pub success: bool,
    pub files: Vec<FileEntry>,
    /// Where the files are: `local`, or the id of the Shannon cloud profile they were read from.
    #[serde(default = "local_source")]
    pub source: String,
}

fn local_source() -> String {
    crate::core::remote::LOCAL.to_string()
}

/// `GET /api/v1/sessions/{id}/files/{path}`: text raw, anything else base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct FileContent {
    pub success: bool,
    pub content: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// `true` when `content` is base64.
    pub base64: bool,
}

impl Workspace {
    /// The workspace of a session (its stored id), under `<data dir>/workspaces`.
    pub fn of_session(data_dir: &Path, session_id: &str) -> Result<Self> {
        let ok = !session_id.is_empty()
            && session_id.len() <= 128
            && session_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(ShannonError::invalid("invalid session id"));
        }
        Ok(Self {
            root: data_dir.join("workspaces").join(session_id),
        })
    }

    /// A user's memory folder, `<data dir>/memory/<user id>` (agents read it as `/memory/`).
    pub fn of_user_memory(data_dir: &Path, user_id: &str) -> Result<Self> {
        let mut ws = Self::of_session(data_dir, user_id)?;
        ws.root = data_dir.join("memory").join(user_id);
        Ok(ws)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path `rel` names inside the workspace, or why it may not.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf> {
        let decoded = percent_decode(rel);
        let refused = |why: &str| ShannonError::invalid(format!("path {rel:?} {why}"));
        if decoded.contains('\0') || decoded.contains('\\') {
            return Err(refused("has a forbidden character"));
        }
        let path = Path::new(decoded.trim_start_matches("./"));
        let mut out = self.root.clone();
        for c in path.components() {
            match c {
                Component::Normal(part) => {
                    out.push(part);
                    // A symlink anywhere on the way could lead out: none is followed.
                    if out
                        .symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink())
                    {
                        return Err(refused("goes through a symlink"));
                    }
                }
                Component::CurDir => {}
                Component::ParentDir => return Err(refused("leaves the workspace")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(refused("is absolute"));
                }
            }
        }
        Ok(out)
    }

    /// The path relative to the workspace (for listings), with `/` separators.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default()
    }

    /// One level of the directory `rel` ("" = the workspace); a missing one is empty.
    pub fn list(&self, rel: &str) -> Result<Vec<FileEntry>> {
        let dir = self.resolve(rel)?;
        if !dir.exists() {
            return Ok(Vec::new());
        }
        if !dir.is_dir() {
            return Err(ShannonError::invalid(format!("{rel:?} is not a directory")));
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let meta = entry.metadata().map_err(io)?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name == "lost+found" || meta.file_type().is_symlink() {
                continue;
            }
            entries.push(FileEntry {
                path: self.relative(&entry.path()),
                name,
                is_dir: meta.is_dir(),
                size_bytes: if meta.is_dir() { 0 } else { meta.len() },
            });
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let path = self.resolve(rel)?;
        if path.is_dir() {
            return Err(ShannonError::invalid(format!("{rel:?} is a directory")));
        }
        let meta = std::fs::metadata(&path)
            .map_err(|_| ShannonError::NotFound("file not found".into()))?;
        if meta.len() > 20 * MAX_FILE_BYTES as u64 {
            return Err(ShannonError::PayloadTooLarge(format!(
                "{rel:?} is too large"
            )));
        }
        std::fs::read(&path).map_err(|_| ShannonError::NotFound("file not found".into()))
    }

    /// Writes a file, creating its directories; refused past the size limits.
    pub fn write(&self, rel: &str, content: &[u8]) -> Result<()> {
        if content.len() > MAX_FILE_BYTES {
            return Err(ShannonError::PayloadTooLarge(
                "a file is at most 1 MiB".into(),
            ));
        }
        let path = self.resolve(rel)?;
        if rel.trim().is_empty() || path == self.root {
            return Err(ShannonError::invalid("a file path is required"));
        }
        if self.size()? + content.len() as u64 > MAX_WORKSPACE_BYTES {
            return Err(ShannonError::StorageFull(
                "the workspace holds at most 100 MiB".into(),
            ));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, content).map_err(io)
    }

    pub fn delete(&self, rel: &str) -> Result<()> {
        let path = self.resolve(rel)?;
        if path == self.root {
            return Err(ShannonError::invalid(
                "the workspace itself cannot be deleted",
            ));
        }
        match std::fs::symlink_metadata(&path) {
            Err(_) => Err(ShannonError::NotFound("file not found".into())),
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path).map_err(io),
            Ok(_) => std::fs::remove_file(&path).map_err(io),
        }
    }

    /// Every file, depth first (for search and the size limit).
    pub fn walk(&self) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.path().symlink_metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    dirs.push(entry.path());
                } else if meta.is_file() {
                    files.push(entry.path());
                }
            }
        }
        files.sort();
        Ok(files)
    }

    pub fn relative_of(&self, path: &Path) -> String {
        self.relative(path)
    }

    fn size(&self) -> Result<u64> {
        Ok(self
            .walk()?
            .iter()
            .filter_map(|p| p.metadata().ok())
            .map(|m| m.len())
            .sum())
    }
}

fn io(e: std::io::Error) -> ShannonError {
    ShannonError::Io(e.to_string())
}

/// `%2e%2e` is `..`: decoded before the checks, so no encoding slips a component past them.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The content type by extension, as the cloud's.
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "md" => "text/markdown",
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "py" => "text/x-python",
        "go" => "text/x-go",
        "rs" => "text/x-rust",
        "js" => "text/javascript",
        "ts" => "text/x-typescript",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "xml" => "application/xml",
        "sh" => "text/x-shellscript",
        "toml" => "application/toml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

impl Core {
    /// The workspace of one of the caller's sessions (by id or external id; 404 otherwise).
    pub(crate) async fn session_workspace(
        &self,
        caller: &Caller,
        session: &str,
    ) -> Result<Workspace> {
        let id = self.owned_session_id(caller, session).await?;
        Workspace::of_session(self.data_dir(), &id)
    }

    /// One level of a session's workspace at `path` (its root when `None`); empty when the folder
    /// does not exist. The session by id or external id; `not_found` if it is not the caller's.
    pub async fn list_session_files(
        &self,
        caller: &Caller,
        session: &str,
        path: Option<String>,
    ) -> Result<FileList> {
        if let Some(remote) = self.remote_session_of(caller, session).await? {
            return self.remote_file_list(&remote, path).await;
        }
        list_files(self.session_workspace(caller, session).await?, path).await
    }

    /// A file of a session's workspace, text raw and anything else base64; at most 20 MiB
    /// (`payload_too_large`), `invalid_request` for a path leaving the workspace.
    pub async fn read_session_file(
        &self,
        caller: &Caller,
        session: &str,
        path: &str,
    ) -> Result<FileContent> {
        if let Some(remote) = self.remote_session_of(caller, session).await? {
            return self.remote_file(&remote, path).await;
        }
        file_content(self.session_workspace(caller, session).await?, path).await
    }

    /// One level of the caller's memory folder (`GET /api/v1/memory/files`): here, or with
    /// `source` a Shannon cloud profile's id, the remote user's memory on that cloud.
    pub async fn list_memory_files(
        &self,
        caller: &Caller,
        path: Option<String>,
        source: Option<&str>,
    ) -> Result<FileList> {
        if let Some(remote) = self.remote_memory_of(source).await? {
            return self.remote_file_list(&remote, path).await;
        }
        list_files(
            Workspace::of_user_memory(self.data_dir(), &caller.user_id)?,
            path,
        )
        .await
    }

    /// A file of the caller's memory folder (here, or on the cloud profile `source`).
    pub async fn read_memory_file(
        &self,
        caller: &Caller,
        path: &str,
        source: Option<&str>,
    ) -> Result<FileContent> {
        if let Some(remote) = self.remote_memory_of(source).await? {
            return self.remote_file(&remote, path).await;
        }
        file_content(
            Workspace::of_user_memory(self.data_dir(), &caller.user_id)?,
            path,
        )
        .await
    }
}

async fn list_files(ws: Workspace, path: Option<String>) -> Result<FileList> {
    let rel = path.unwrap_or_default();
    let files = store::blocking(move || ws.list(&rel)).await?;
    Ok(FileList {
        success: true,
        files,
        source: local_source(),
    })
}

/// A file in the cloud's shape: text raw, anything else base64.
async fn file_content(ws: Workspace, path: &str) -> Result<FileContent> {
    use base64::Engine;
    let rel = path.to_string();
    let bytes = store::blocking(move || ws.read(&rel)).await?;
    let content_type = content_type(path).to_string();
    let textual = content_type.starts_with("text/")
        || [
            "application/json",
            "application/xml",
            "application/yaml",
            "application/toml",
        ]
        .contains(&content_type.as_str());
    let size_bytes = bytes.len() as u64;
    let (content, base64) = match String::from_utf8(bytes) {
        Ok(text) if textual => (text, false),
        Ok(text) => (base64::engine::general_purpose::STANDARD.encode(text), true),
        Err(e) => (
            base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
            true,
        ),
    };
    Ok(FileContent {
        success: true,
        content,
        content_type,
        size_bytes,
        base64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::of_session(dir.path(), "s-1").unwrap();
        ws.write("notes/a.md", b"# A").unwrap();
        assert_eq!(ws.read("notes/a.md").unwrap(), b"# A");
        assert_eq!(ws.read("./notes/a.md").unwrap(), b"# A");
        for bad in [
            "../x",
            "notes/../../x",
            "/etc/passwd",
            "%2e%2e/x",
            "notes/%2E%2E/%2e%2e/x",
            "a\0b",
        ] {
            assert!(ws.resolve(bad).is_err(), "{bad}");
            assert!(ws.write(bad, b"x").is_err(), "{bad}");
        }
        // A symlink that leads out is never followed.
        std::os::unix::fs::symlink("/etc", ws.root().join("out")).unwrap();
        assert!(ws.read("out/passwd").is_err());
        assert!(ws.write("out/evil", b"x").is_err());
        assert!(!ws.list("").unwrap().iter().any(|e| e.name == "out"));
        assert!(Workspace::of_session(dir.path(), "../x").is_err());
        assert_eq!(ws.list("").unwrap()[0].path, "notes");
        assert_eq!(ws.list("notes").unwrap()[0].path, "notes/a.md");
        assert!(ws.read("notes").is_err());
        assert_eq!(ws.read("missing.md").unwrap_err().code(), "not_found");
    }
}
