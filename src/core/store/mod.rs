//! SQLite store: one writer connection and a few readers, all driven from tokio's blocking pool so no
//! database work ever runs on an async executor thread or the main thread.

pub(crate) mod api_keys;
pub(crate) mod approvals;
pub(crate) mod events;
mod migrations;
pub(crate) mod remote;
pub(crate) mod remote_mirror;
pub(crate) mod reviews;
pub(crate) mod schedules;
pub(crate) mod secrets;
pub(crate) mod sessions;
pub(crate) mod settings;
pub(crate) mod steps;
pub(crate) mod swarm_messages;
pub(crate) mod task_reads;
pub(crate) mod tasks;
pub(crate) mod users;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::core::error::{Result, ShannonError};

pub use migrations::{SCHEMA_VERSION, migrations};

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "shannon.sqlite3";
const READERS: usize = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Applies the per-connection settings every connection needs.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // FULL: a transaction reported committed survives power loss as well as a killed process.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it to the latest schema.
    /// Blocking: call it from a blocking context (see [`Store::open_async`]).
    pub fn open_blocking(path: &Path) -> Result<Self> {
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(ShannonError::Database(format!(
                "could not enable WAL journal mode (got {mode})"
            )));
        }
        migrations::migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            configure(&conn)?;
            readers.push(Mutex::new(conn));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// Opens the store on tokio's blocking pool.
    pub async fn open_async(path: PathBuf) -> Result<Self> {
        blocking(move || Self::open_blocking(&path)).await
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a read-only connection, on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || f(&inner.reader())).await
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction on the writer, on the blocking pool.
    /// The transaction commits when `f` returns `Ok` and rolls back otherwise (or on panic).
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || inner.write_blocking(f)).await
    }

    /// Synchronous write, for code already on a blocking thread (start-up, benchmarks' baselines).
    pub fn write_blocking<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.inner.write_blocking(f)
    }

    /// Frees the connections' page caches (idle memory release); blocking.
    pub(crate) fn shrink_memory_blocking(&self) {
        let all = std::iter::once(&self.inner.writer).chain(&self.inner.readers);
        for conn in all {
            // Busy connections are skipped: the next idle pass gets them.
            if let Ok(c) = conn.try_lock() {
                let _ = c.execute_batch("PRAGMA shrink_memory;");
            }
        }
    }

    /// Synchronous read, for code already on a blocking thread.
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&self.inner.reader())
    }

    /// Readiness probe: the database answers a trivial query.
    pub(crate) async fn ping(&self) -> Result<()> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i32>(0))?;
            Ok(())
        })
        .await
    }
}

impl Inner {
    fn write_blocking<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.readers.len() {
            if let Ok(guard) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return guard;
            }
        }
        lock(&self.readers[start % self.readers.len()])
    }
}

/// A poisoned lock only means a closure panicked; rusqlite rolled its transaction back on unwind, so
/// the connection is still usable.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs blocking work on tokio's blocking pool and flattens a panic into an error.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ShannonError::Internal(format!("blocking task failed: {e}")))?
}
