//! The `shannon-history` bundle, version 1 (`docs/guides/history.md` describes it): a folder with
//! `manifest.json`, `sessions.jsonl`, `tasks.jsonl`, `events.jsonl`, `deltas.jsonl` (only when
//! asked for), `token_usage.jsonl`, `schedules.jsonl`, `files/<session id>/…` and `memory/…`. The
//! manifest names every file with its sha256; a bundle whose files do not match is refused whole.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::error::{Result, ShannonError};
use crate::core::store::history::Row;

pub const FORMAT: &str = "shannon-history";
pub const VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const SESSIONS: &str = "sessions.jsonl";
pub const TASKS: &str = "tasks.jsonl";
pub const EVENTS: &str = "events.jsonl";
pub const DELTAS: &str = "deltas.jsonl";
pub const USAGE: &str = "token_usage.jsonl";
pub const SCHEDULES: &str = "schedules.jsonl";

/// Rows and files in a bundle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct BundleCounts {
    pub sessions: u32,
    pub tasks: u32,
    pub events: u64,
    pub deltas: u64,
    pub usage_rows: u32,
    pub schedules: u32,
    pub files: u32,
}

/// Where a bundle comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct BundleSource {
    /// `embedded` (this plugin) or `cloud` (pulled from a Shannon cloud).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub plugin_version: String,
    pub schema_version: u32,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub source: BundleSource,
    /// The user whose history it is (every import gives it to the importing user).
    pub user_id: String,
    pub created_at: String,
    pub counts: BundleCounts,
    /// Every file but the manifest, by its path in the bundle: its sha256 (hex).
    pub files: BTreeMap<String, String>,
}

fn io(what: &Path, e: std::io::Error) -> ShannonError {
    ShannonError::Io(format!("{}: {e}", what.display()))
}

pub(crate) fn damaged(why: impl std::fmt::Display) -> ShannonError {
    ShannonError::invalid(format!(
        "the history bundle is damaged: {why}; nothing was imported"
    ))
}

/// A path inside the bundle from its manifest name: relative, no `..`, no root.
pub(crate) fn inside(root: &Path, name: &str) -> Result<PathBuf> {
    let rel = Path::new(name);
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if name.is_empty() || !plain {
        return Err(damaged(format!("{name:?} is not a path inside the bundle")));
    }
    Ok(root.join(rel))
}

/// A file being written, hashed as it goes.
pub(crate) struct HashedFile {
    out: BufWriter<std::fs::File>,
    hash: Sha256,
    path: PathBuf,
}

impl HashedFile {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let file = std::fs::File::create(path).map_err(|e| io(path, e))?;
        Ok(Self {
            out: BufWriter::with_capacity(256 * 1024, file),
            hash: Sha256::new(),
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes).map_err(|e| io(&self.path, e))
    }

    /// One JSONL line.
    pub(crate) fn line(&mut self, row: &Row) -> Result<()> {
        let mut text = serde_json::to_vec(row)?;
        text.push(b'\n');
        self.write(&text)
    }

    /// Flushes to disk; the file's sha256.
    pub(crate) fn finish(mut self) -> Result<String> {
        self.out.flush().map_err(|e| io(&self.path, e))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| io(&self.path, e))?;
        Ok(hex::encode(self.hash.finalize()))
    }
}

/// The sha256 of a file.
pub(crate) fn sha256_of(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            return Ok(hex::encode(hash.finalize()));
        }
        hash.update(&buf[..n]);
    }
}

/// Reads and checks a bundle's manifest, then every file against it: a newer format, a missing
/// file or one whose sha256 differs refuses the bundle before anything is written.
pub(crate) fn open(root: &Path, schema_version: u32) -> Result<Manifest> {
    let path = root.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|_| {
        ShannonError::invalid(format!(
            "{} is not a history bundle: it has no {MANIFEST}",
            root.display()
        ))
    })?;
    let head: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| damaged(format!("{MANIFEST} does not read: {e}")))?;
    if head.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(ShannonError::invalid(format!(
            "{} is not a {FORMAT} bundle",
            root.display()
        )));
    }
    let version = head.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version > VERSION as u64 {
        return Err(ShannonError::invalid(format!(
            "the bundle is {FORMAT} v{version}, newer than this build reads (v{VERSION}): update the app"
        )));
    }
    let manifest: Manifest = serde_json::from_value(head)
        .map_err(|e| damaged(format!("{MANIFEST} does not read: {e}")))?;
    if manifest.source.schema_version > schema_version {
        return Err(ShannonError::invalid(format!(
            "the bundle comes from schema version {}, newer than this build's ({schema_version}): update the app",
            manifest.source.schema_version
        )));
    }
    // The JSONL files are checked as they are read ([`rows`]), before anything is written.
    for (name, want) in manifest
        .files
        .iter()
        .filter(|(n, _)| !n.ends_with(".jsonl"))
    {
        let file = inside(root, name)?;
        let got = sha256_of(&file).map_err(|_| damaged(format!("{name} is missing")))?;
        if &got != want {
            return Err(damaged(format!("{name} does not match its checksum")));
        }
    }
    for required in [SESSIONS, TASKS, EVENTS, USAGE, SCHEDULES] {
        if !manifest.files.contains_key(required) {
            return Err(damaged(format!("{required} is not in the manifest")));
        }
    }
    Ok(manifest)
}

/// A file read through, hashed as it goes.
struct Hashing {
    file: std::fs::File,
    hash: Sha256,
}

impl Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Every row of one of the bundle's JSONL files, checked against its sha256 in the manifest in
/// the same pass: the caller only gathers rows, and writes nothing before every file is read.
pub(crate) fn rows(
    root: &Path,
    manifest: &Manifest,
    name: &str,
    mut each: impl FnMut(Row) -> Result<()>,
) -> Result<()> {
    let Some(want) = manifest.files.get(name) else {
        return Ok(());
    };
    let path = root.join(name);
    let file = std::fs::File::open(&path).map_err(|_| damaged(format!("{name} is missing")))?;
    let mut reader = BufReader::with_capacity(
        256 * 1024,
        Hashing {
            file,
            hash: Sha256::new(),
        },
    );
    let mut line = String::new();
    let mut n = 0;
    let mut unreadable = None;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| io(&path, e))? == 0 {
            break;
        }
        n += 1;
        if unreadable.is_some() || line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Row>(&line) {
            Ok(row) => each(row)?,
            // Read on: a file that does not match its checksum says so first.
            Err(e) => unreadable = Some(format!("{name} line {n} does not read: {e}")),
        }
    }
    if hex::encode(reader.into_inner().hash.finalize()) != *want {
        return Err(damaged(format!("{name} does not match its checksum")));
    }
    match unreadable {
        Some(why) => Err(damaged(why)),
        None => Ok(()),
    }
}
