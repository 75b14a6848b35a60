//! A fake Shannon cloud gateway (v0.5.1 as `../shared/contract/remote-mode.md` §2 and §5 describe
//! it), for testing a client of the cloud without the real Go + Temporal + Redis + Postgres stack.
//! It reproduces the wire and the quirks a client must survive (header-only ids, 200/201/202/502
//! codes, Redis-style stream ids, a small trimmed ring, unpersisted deltas, `: ping`, `done`,
//! failures without STREAM_END, slow-reader loss, idempotency without a lock, 429 on the limited
//! routes only, auth off, short-lived JWTs), takes injected faults, and logs every event it emitted
//! with its cloud `seq` and stream id so a test can compare it with what a client received.
//!
//! Standalone: it depends on no plugin internals. Use from a test with
//! `#[path = "support/fake_cloud/mod.rs"] mod fake_cloud;`, or run `examples/fake_cloud.rs`.
// Each user (a test, the example) takes a part of the API; handler helpers return the `Response`
// they answer with as their error, as axum handlers do.
#![allow(dead_code, unused_imports, clippy::result_large_err)]

pub mod auth;
pub mod catalog;
pub mod events;
pub mod faults;
pub mod review;
pub mod script;
pub mod sessions;
pub mod sse;
pub mod tasks;
pub mod workspace;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use auth::TokenPair;
pub use events::{CloudEvent, Emitted};
pub use faults::Fault;
pub use script::{Outcome, Script, Step};

/// The default API key (`sk_` + 64 hex, the cloud's format).
pub const TEST_KEY: &str = "sk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// 0 picks a free port (kept across [`Cloud::restart`]).
    pub port: u16,
    /// Accepted keys; each is its own user with its own rate window.
    pub api_keys: Vec<String>,
    /// Off: every request is the seeded dev user (`/auth/me` answers 200 without credentials).
    pub auth_enabled: bool,
    pub jwt_secret: String,
    /// Access token lifetime (the cloud's is 1 h; whole seconds, at least 1).
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// `: ping` on idle SSE streams (cloud: 10 s).
    pub ping_interval: Duration,
    /// Per-workflow ring (cloud: ~256): an older resume point silently skips what was trimmed.
    pub ring_capacity: usize,
    /// A live subscriber's buffer (cloud: 256 slots); a full one loses events silently.
    pub subscriber_buffer: usize,
    /// An SSE stream closes this long after WORKFLOW_COMPLETED (or the task's end without
    /// STREAM_END) with no later event (cloud: 30 s).
    pub linger_after_end: Duration,
    /// Requests per window per key on the limited routes (cloud free tier: 60 per minute).
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// The script new tasks run (see [`Cloud::set_script`]).
    pub script: Script,
    pub schedule_min_interval_mins: i64,
    pub schedule_max_budget_usd: f64,
    pub schedule_max_per_user: usize,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_keys: vec![TEST_KEY.to_string()],
            auth_enabled: true,
            jwt_secret: "fake-cloud-jwt-secret".into(),
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            ping_interval: Duration::from_secs(10),
            ring_capacity: 256,
            subscriber_buffer: 256,
            linger_after_end: Duration::from_secs(30),
            rate_limit: 60,
            rate_window: Duration::from_secs(60),
            script: Script::answer(
                "Hello from the fake Shannon cloud.",
                5,
                Duration::from_millis(20),
            ),
            schedule_min_interval_mins: 60,
            schedule_max_budget_usd: 10.0,
            schedule_max_per_user: 50,
        }
    }
}

/// Everything behind one lock (no await while it is held).
#[derive(Default)]
pub struct State {
    pub tasks: HashMap<String, tasks::Task>,
    /// Workflow ids in submission order.
    pub order: Vec<String>,
    pub streams: HashMap<String, events::WfStream>,
    pub sessions: Vec<sessions::Session>,
    pub schedules: Vec<sessions::Schedule>,
    /// Rate windows: key → (window start, count).
    pub rate: HashMap<String, (u64, u32)>,
    /// Requests refused with 429 so far.
    pub rate_refused: u32,
    pub idempotency: HashMap<String, auth::Cached>,
    pub faults: Vec<Fault>,
    /// Pending [`Fault::DropLive`] events.
    pub drop_live: u32,
    pub script: Option<Script>,
    /// Messages sent to running swarms: (workflow id, message), in order.
    pub swarm_messages: Vec<(String, String)>,
    /// Approval decisions taken: (workflow id, approval id, approved).
    pub approval_decisions: Vec<(String, String, bool)>,
    /// Plans under review, by workflow id.
    pub reviews: HashMap<String, review::Review>,
    /// Session workspaces (by session UUID) and memory folders (by user id).
    pub files: HashMap<String, workspace::Tree>,
    pub memory: HashMap<String, workspace::Tree>,
}

struct Server {
    shutdown: oneshot::Sender<()>,
    join: JoinHandle<()>,
}

/// The fake cloud: configuration, state and its listener.
pub struct Cloud {
    pub cfg: FakeConfig,
    pub state: Mutex<State>,
    addr: Mutex<Option<SocketAddr>>,
    server: tokio::sync::Mutex<Option<Server>>,
    /// Bumped by [`Cloud::stop`]: every open SSE stream is cut.
    pub kill_streams: watch::Sender<u64>,
}

/// A running fake cloud; dropping it does not stop the server (call [`Cloud::stop`]).
pub type FakeCloud = Arc<Cloud>;

/// Starts a fake cloud on 127.0.0.1.
pub async fn start(cfg: FakeConfig) -> FakeCloud {
    let cloud = Arc::new(Cloud {
        cfg,
        state: Mutex::new(State::default()),
        addr: Mutex::new(None),
        server: tokio::sync::Mutex::new(None),
        kill_streams: watch::channel(0).0,
    });
    cloud.restart().await;
    cloud
}

fn router(cloud: Arc<Cloud>) -> Router {
    use sessions as s;
    use tasks as t;
    let api = Router::new()
        .route("/api/v1/auth/me", get(s::me))
        .route("/api/v1/tasks", post(t::submit).get(t::list))
        .route("/api/v1/tasks/stream", post(t::submit_stream))
        .route("/api/v1/tasks/{id}", get(t::status))
        .route("/api/v1/tasks/{id}/events", get(t::events))
        .route("/api/v1/tasks/{id}/stream", get(t::redirect_to_stream))
        .route("/api/v1/tasks/{id}/pause", post(t::pause))
        .route("/api/v1/tasks/{id}/resume", post(t::resume))
        .route("/api/v1/tasks/{id}/cancel", post(t::cancel))
        .route("/api/v1/tasks/{id}/control-state", get(t::control_state))
        .route("/api/v1/approvals/decision", post(t::approval_decision))
        .route("/api/v1/swarm/{id}/message", post(t::swarm_message))
        .route(
            "/api/v1/tasks/{id}/review",
            get(review::get_review).post(review::post_review),
        )
        .route(
            "/api/v1/sessions/{id}/files",
            get(workspace::list_session_files),
        )
        .route(
            "/api/v1/sessions/{id}/files/{*path}",
            get(workspace::read_session_file),
        )
        .route("/api/v1/memory/files", get(workspace::list_memory_files))
        .route(
            "/api/v1/memory/files/{*path}",
            get(workspace::read_memory_file),
        )
        .route("/api/v1/skills", get(catalog::skills))
        .route("/api/v1/agents", get(catalog::agents))
        .route("/api/v1/tools", get(catalog::tools))
        .route("/api/v1/stream/sse", get(sse::stream))
        .route("/api/v1/sessions", get(s::list))
        .route(
            "/api/v1/sessions/{id}",
            get(s::get_one).patch(s::rename).delete(s::delete),
        )
        .route("/api/v1/sessions/{id}/history", get(s::history))
        .route("/api/v1/sessions/{id}/events", get(s::session_events))
        .route(
            "/api/v1/schedules",
            post(s::create_schedule).get(s::list_schedules),
        )
        .route(
            "/api/v1/schedules/{id}",
            get(s::get_schedule)
                .put(s::update_schedule)
                .delete(s::delete_schedule),
        )
        .route("/api/v1/schedules/{id}/runs", get(s::schedule_runs))
        .route("/api/v1/schedules/{id}/pause", post(s::pause_schedule))
        .route("/api/v1/schedules/{id}/resume", post(s::resume_schedule))
        .route("/v1/llm-models", get(s::llm_models))
        // Faults inside auth and idempotency: injected latency then sits between the idempotency
        // lookup and the handler, where two concurrent retries overlap (no in-flight lock).
        .layer(from_fn_with_state(cloud.clone(), faults::inject_faults))
        .layer(from_fn_with_state(cloud.clone(), auth::idempotency))
        .layer(from_fn_with_state(cloud.clone(), auth::authenticate));
    Router::new()
        .route("/health", get(s::health))
        .route("/readiness", get(s::readiness))
        .route("/api/v1/auth/refresh", post(auth::refresh))
        .layer(from_fn_with_state(cloud.clone(), faults::inject_faults))
        .merge(api)
        .merge(faults::admin_routes())
        .with_state(cloud)
}

impl Cloud {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr.lock().unwrap().expect("started"))
    }

    pub fn api_key(&self) -> &str {
        &self.cfg.api_keys[0]
    }

    /// The script tasks submitted from now on run.
    pub fn set_script(&self, script: Script) {
        self.state.lock().unwrap().script = Some(script);
    }

    pub fn inject(&self, fault: Fault) {
        let mut st = self.state.lock().unwrap();
        match fault {
            Fault::DropLive { events } => st.drop_live += events,
            f => st.faults.push(f),
        }
    }

    pub fn clear_faults(&self) {
        let mut st = self.state.lock().unwrap();
        st.faults.clear();
        st.drop_live = 0;
    }

    /// Every event published for `workflow_id`, in order, with its cloud seq and stream id.
    pub fn emitted(&self, workflow_id: &str) -> Vec<Emitted> {
        self.state
            .lock()
            .unwrap()
            .streams
            .get(workflow_id)
            .map(|s| s.log.clone())
            .unwrap_or_default()
    }

    /// The task's status without the `TASK_STATUS_` prefix (`RUNNING`, `PAUSED`, `COMPLETED`, …).
    pub fn task_status(&self, workflow_id: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .tasks
            .get(workflow_id)
            .map(|t| t.status.to_string())
    }

    /// Workflow ids in submission order.
    pub fn workflows(&self) -> Vec<String> {
        self.state.lock().unwrap().order.clone()
    }

    /// Waits until the task is terminal and its run has published its last event; its status.
    pub async fn wait_terminal(&self, workflow_id: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.task_status(workflow_id).unwrap_or_default();
            let ended = self
                .state
                .lock()
                .unwrap()
                .streams
                .get(workflow_id)
                .is_some_and(|s| s.has_ended());
            if tasks::is_terminal(&s) && ended {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{workflow_id} still {s}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Publishes one event on a workflow (through the same path as the scripted ones).
    pub fn publish(
        &self,
        workflow_id: &str,
        event_type: &str,
        agent_id: Option<&str>,
        message: &str,
        payload: Option<Value>,
    ) -> CloudEvent {
        let mut st = self.state.lock().unwrap();
        let st = &mut *st;
        let stream = st.streams.entry(workflow_id.to_string()).or_default();
        stream.publish(
            workflow_id,
            event_type,
            agent_id,
            message,
            payload,
            self.cfg.ring_capacity,
            &mut st.drop_live,
        )
    }

    fn no_stream_end(&self) -> bool {
        self.state
            .lock()
            .unwrap()
            .faults
            .iter()
            .any(|f| matches!(f, Fault::NoStreamEnd))
    }

    /// Stops the listener: open streams are cut, then the server shuts down. State (tasks keep
    /// running, as the cloud's workers do while its gateway is down) survives for [`Cloud::restart`].
    pub async fn stop(&self) {
        let Some(server) = self.server.lock().await.take() else {
            return;
        };
        self.kill_streams.send_modify(|n| *n += 1);
        let _ = server.shutdown.send(());
        let abort = server.join.abort_handle();
        if tokio::time::timeout(Duration::from_secs(3), server.join)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    /// (Re)starts the listener on the same port.
    pub async fn restart(self: &Arc<Self>) {
        let mut slot = self.server.lock().await;
        if slot.is_some() {
            return;
        }
        let want = self
            .addr
            .lock()
            .unwrap()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], self.cfg.port)));
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(want).await {
                Ok(l) => break l,
                // The old socket may linger a moment after a stop.
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("fake cloud cannot bind {want}: {e}"),
            }
        };
        *self.addr.lock().unwrap() = Some(listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(self.clone());
        // As the cloud's front ends do: each SSE frame leaves at once instead of waiting (Nagle)
        // for the client's delayed ACK of the one before (40 ms stalls in every timing).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let join = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        *slot = Some(Server { shutdown: tx, join });
    }
}
