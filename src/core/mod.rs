//! The core service: every operation, once. No `tauri` or `axum` import lives under this module, so
//! the headless example, the IPC door and the HTTP door all share it and it is tested on its own.

// Items and re-exports only the tests, benchmarks and examples reach (the `unstable-internals`
// feature) are unused in a build without it; clippy --all-targets, with it, still finds both.
#![cfg_attr(not(feature = "unstable-internals"), allow(dead_code, unused_imports))]

pub mod auth;
pub mod catalog;
pub mod crypto;
pub mod error;
pub mod files;
pub mod history;
pub mod hitl;
mod idle_release;
pub mod keystore;
pub mod llm;
pub mod mcp;
pub mod metrics;
pub mod remote;
pub mod run;
pub mod schedules;
pub mod sessions;
pub mod settings;
pub mod store;
pub mod strategies;
pub mod streams;
pub mod tasks;
pub mod time;
pub mod tools;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use auth::{AuthMethod, Caller};
pub use crypto::SecretString;
pub use error::{Result, ShannonError};
pub use keystore::{KeyStorage, KeyStore};

use crypto::KeyManager;
use run::{Engine, EngineDefaults, RecoveryPolicy, TaskStatus};
use settings::{providers, read_cache, secrets};
use store::{DATABASE_FILE, Store};
use streams::EventHub;

/// What the core needs to start.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Directory holding the database and, in file storage, the master key file (created 0700 if
    /// missing).
    pub data_dir: PathBuf,
    /// Where the master key lives. [`KeyStorage::File`] by default, so a headless core, the tests
    /// and the benchmarks never write into a developer's keychain; the Tauri plugin asks for
    /// [`KeyStorage::Auto`] (the OS keychain when one answers).
    pub key_storage: KeyStorage,
    /// Provider and model for submissions that name none.
    pub defaults: EngineDefaults,
    /// What start-up does with tasks a crash left running.
    pub recovery: RecoveryPolicy,
    /// Sizes of the in-memory event replay rings.
    pub rings: streams::RingConfig,
    /// Schedule limits (the cloud's defaults) and how often the scheduler looks for due runs.
    pub schedules: schedules::ScheduleLimits,
    /// When tasks ask for approval (changeable later with [`Core::set_approval_policy`]).
    pub approvals: hitl::approvals::ApprovalPolicy,
    /// MCP servers whose tools join every task's (changeable with [`Core::set_mcp_servers`]).
    pub mcp_servers: Vec<mcp::McpServerConfig>,
    /// The embedding app's own tools, offered to agents beside the built-ins (checked when the
    /// core opens: a bad name or schema is a configuration error).
    pub tools: Vec<tools::app::AppTool>,
    /// Remote mode: the global switch and where new sessions run by default.
    pub remote: remote::RemoteConfig,
}

impl CoreConfig {
    /// Defaults: the offline demo provider, resume interrupted tasks.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            key_storage: KeyStorage::File,
            defaults: EngineDefaults::default(),
            recovery: RecoveryPolicy::default(),
            rings: streams::RingConfig::default(),
            schedules: schedules::ScheduleLimits::default(),
            approvals: hitl::approvals::ApprovalPolicy::default(),
            mcp_servers: Vec::new(),
            tools: Vec::new(),
            remote: remote::RemoteConfig::default(),
        }
    }
}

/// Low-rate notifications the doors forward to their clients (Tauri events, later SSE). Each payload
/// is its own type, defined once here; the IPC door makes them typed Tauri events.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CoreEvent {
    /// `settings_changed`: a user setting was written or deleted.
    SettingsChanged(SettingsChanged),
    /// `provider_keys_changed`: a provider key was stored or deleted.
    ProviderKeysChanged(ProviderKeysChanged),
    /// `task_status_changed`: a task moved to another status.
    TaskStatusChanged(TaskStatusChanged),
    /// `remote_status_changed`: a Shannon cloud profile went online, offline, or refused its
    /// credential.
    RemoteStatusChanged(remote::RemoteStatusChanged),
    /// `history_progress`: an export, import or pull of history moved on.
    HistoryProgress(history::HistoryProgress),
}

/// A user setting was written or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SettingsChanged {
    /// The user whose setting it is.
    pub user_id: String,
    /// The setting's key (its value is not sent; read it again).
    pub key: String,
}

/// A provider API key was stored or deleted (the key itself is never sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ProviderKeysChanged {
    /// The user whose key it is.
    pub user_id: String,
    /// The provider's id, e.g. `openai`.
    pub provider: String,
}

/// A task's status changed (`TASK_STATUS_*`): for task lists and badges without a stream open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskStatusChanged {
    /// The task's owner.
    pub user_id: String,
    /// The task's id.
    pub task_id: String,
    /// The new status in the API's spelling, e.g. `TASK_STATUS_RUNNING`.
    pub status: String,
}

/// The embedded Shannon service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Core {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    data_dir: PathBuf,
    store: Store,
    /// Where the master key is kept (the backend that answered at start-up).
    key_store: KeyStore,
    keys: RwLock<Arc<KeyManager>>,
    jwt: auth::jwt::JwtKeys,
    /// Held shared by every operation that seals or opens a secret, exclusively by a rotation, so
    /// none of them can pair a ciphertext with the wrong master key.
    secret_lock: tokio::sync::RwLock<()>,
    engine: Engine,
    scheduler: schedules::SchedulerState,
    events: broadcast::Sender<CoreEvent>,
    /// Settings and decrypted provider keys, invalidated by every write that changes them.
    read_cache: Arc<read_cache::ReadCache>,
    /// Recent outcomes of local providers' readiness probes.
    probes: providers::LocalProbes,
    mcp: Arc<mcp::McpHub>,
    app_tools: Arc<tools::app::AppTools>,
    /// Token and cost totals kept between metric scrapes.
    usage_tally: metrics::UsageTally,
    remote: remote::RemoteState,
}

/// A handle that does not keep the core alive: for background loops that must end with it.
#[derive(Debug, Clone)]
pub(crate) struct WeakCore(Weak<Inner>);

impl WeakCore {
    pub fn upgrade(&self) -> Option<Core> {
        self.0.upgrade().map(|inner| Core { inner })
    }
}

impl Core {
    /// Opens the data directory: database (migrated), master key, JWT secret. All blocking work runs on
    /// tokio's blocking pool.
    pub async fn open(config: CoreConfig) -> Result<Self> {
        let CoreConfig {
            data_dir,
            key_storage,
            defaults,
            recovery,
            rings,
            schedules,
            approvals,
            mcp_servers,
            tools,
            remote,
        } = config;
        let mcp = Arc::new(mcp::McpHub::new(mcp_servers)?);
        let app_tools = Arc::new(tools::app::AppTools::new(tools)?);
        store::blocking({
            let dir = data_dir.clone();
            move || create_private_dir(&dir)
        })
        .await?;
        let store = Store::open_async(data_dir.join(DATABASE_FILE)).await?;
        let key_store = store::blocking({
            let dir = data_dir.clone();
            move || Ok(KeyStore::new(key_storage, &dir))
        })
        .await?;
        let (keys, key_store) = secrets::load_key_manager(&store, key_store).await?;
        tracing::debug!(storage = %key_store.backend(), "opened the Shannon master key");
        secrets::bind_unbound_provider_keys(&store, &keys).await?;
        let jwt = secrets::load_or_create_jwt_secret(&store, &keys).await?;
        let (events, _) = broadcast::channel(64);
        let hub = EventHub::with_rings(store.clone(), rings);
        let core = Self {
            inner: Arc::new(Inner {
                data_dir,
                store,
                key_store,
                keys: RwLock::new(keys),
                jwt,
                secret_lock: tokio::sync::RwLock::new(()),
                engine: Engine::new(hub, defaults, recovery, approvals),
                scheduler: schedules::SchedulerState {
                    limits: schedules,
                    ..Default::default()
                },
                events,
                read_cache: Arc::new(read_cache::ReadCache::new()),
                probes: providers::LocalProbes::default(),
                mcp,
                app_tools,
                usage_tally: metrics::UsageTally::default(),
                remote: remote::RemoteState::new(remote),
            }),
        };
        let recovered = run::recover(&core, recovery).await?;
        if recovered > 0 {
            tracing::info!(tasks = recovered, policy = ?recovery, "recovered tasks interrupted by an exit");
        }
        let attached = core.reattach_remote_tasks().await?;
        if attached > 0 {
            tracing::info!(tasks = attached, "re-attached to remote tasks");
        }
        core.start_scheduler();
        idle_release::spawn_idle_release(core.downgrade());
        Ok(core)
    }

    /// Stops the engine in order, within `within`: running tasks stop at their next checkpoint (a
    /// model call in flight is aborted) and stay resumable from their journal, every event emitted
    /// is stored, and MCP servers' child processes end. Whatever is not done in time is left to
    /// crash recovery at the next start. Call it once, at exit.
    pub async fn shutdown(&self, within: std::time::Duration) {
        let work = async {
            let engine = self.engine();
            engine.shutdown.cancel();
            // Remote tasks keep running in the cloud; the next start re-attaches their pumps.
            self.remote().stop_all_pumps();
            // Runs leave the map as they end; they end within one checkpoint, so a short poll is
            // cheaper than a notification on every run's end.
            while !engine
                .runs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
            {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            engine.hub.flush().await;
            self.inner.mcp.shutdown().await;
        };
        if tokio::time::timeout(within, work).await.is_err() {
            tracing::warn!(
                "the Shannon core did not shut down within {within:?}; the next start recovers what was left"
            );
        } else {
            tracing::info!("the Shannon core shut down");
        }
    }

    pub(crate) fn metrics_tally(&self) -> &metrics::UsageTally {
        &self.inner.usage_tally
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The configured MCP servers.
    pub fn mcp(&self) -> &Arc<mcp::McpHub> {
        &self.inner.mcp
    }

    /// Replaces the MCP servers; those no longer configured are shut down.
    pub fn set_mcp_servers(&self, servers: Vec<mcp::McpServerConfig>) -> Result<()> {
        self.inner.mcp.replace(servers)
    }

    /// Every MCP server's state, error and tools.
    pub fn mcp_status(&self) -> Vec<mcp::McpServerStatus> {
        self.inner.mcp.status()
    }

    /// The embedding app's tools.
    pub(crate) fn app_tools(&self) -> &Arc<tools::app::AppTools> {
        &self.inner.app_tools
    }

    /// Whether a call to `tool` asks the user first: the approval policy's dangerous tools, the
    /// tools of MCP servers not marked safe, and the app's tools marked dangerous.
    pub(crate) fn tool_is_dangerous(&self, tool: &str) -> bool {
        self.engine().approval_policy().is_dangerous(tool)
            || self.inner.mcp.is_dangerous(tool)
            || self.inner.app_tools.is_dangerous(tool)
    }

    pub(crate) fn scheduler(&self) -> &schedules::SchedulerState {
        &self.inner.scheduler
    }

    pub(crate) fn downgrade(&self) -> WeakCore {
        WeakCore(Arc::downgrade(&self.inner))
    }

    /// The directory holding the database (and, in file storage, the master key file).
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// The SQLite store under the data dir.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Where the master key is kept: [`KeyStorage::Keychain`] or [`KeyStorage::File`].
    pub fn key_storage(&self) -> KeyStorage {
        self.inner.key_store.backend()
    }

    /// The key store of this data dir (the master key's, and other keys' slots).
    pub fn key_store(&self) -> &KeyStore {
        &self.inner.key_store
    }

    pub(crate) fn keys(&self) -> Arc<KeyManager> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) async fn secrets_shared(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.inner.secret_lock.read().await
    }

    pub(crate) async fn secrets_exclusive(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.inner.secret_lock.write().await
    }

    pub(crate) fn set_keys(&self, keys: Arc<KeyManager>) {
        *self.inner.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }

    pub(crate) fn read_cache(&self) -> &Arc<read_cache::ReadCache> {
        &self.inner.read_cache
    }

    pub(crate) fn local_probes(&self) -> &providers::LocalProbes {
        &self.inner.probes
    }

    pub(crate) fn jwt(&self) -> &auth::jwt::JwtKeys {
        &self.inner.jwt
    }

    /// Subscribes to low-rate core notifications.
    pub fn subscribe_events(&self) -> broadcast::Receiver<CoreEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn notify_task_status(&self, user_id: &str, task_id: &str, status: TaskStatus) {
        self.notify(CoreEvent::TaskStatusChanged(TaskStatusChanged {
            user_id: user_id.to_string(),
            task_id: task_id.to_string(),
            status: status.api().to_string(),
        }));
    }

    pub(crate) fn notify(&self, event: CoreEvent) {
        // No subscriber is fine: the notifications are advisory.
        let _ = self.inner.events.send(event);
    }
}

/// Creates the data directory (0700 for any level it creates; an existing directory is left as it is).
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        ShannonError::Io(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })
}
