//! A core on a fresh data dir whose provider points at a fake OpenAI/Anthropic server, as the engine
//! tests and the DAG bench start it. Include it after `support/fake_provider.rs`:
//! `#[path = "support/rig.rs"] mod rig;` (the fake as `crate::fake_provider`).
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::streams::{TaskEvent, TaskSubscription};
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;
use tauri_plugin_shannon::http::{Listener, ListenerOptions};
use tauri_plugin_shannon::{Core, CoreConfig};

use crate::fake_provider::FakeProvider;

/// The provider key the rig stores (the fake checks nothing; tests look for it in requests).
pub const KEY: &str = "sk-fake-provider-key-000000000000abcd";

pub struct Rig {
    pub core: Core,
    pub fake: FakeProvider,
    pub me: Caller,
    _dir: tempfile::TempDir,
}

/// `provider` (e.g. `openai`, `anthropic`) with a key and its base URL at the fake.
pub async fn rig(provider: &str) -> Rig {
    rig_with(provider, |_| {}).await
}

/// [`rig`] on a core whose configuration `configure` changes first (the app's tools, say).
pub async fn rig_with(provider: &str, configure: impl FnOnce(&mut CoreConfig)) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CoreConfig::new(dir.path());
    configure(&mut config);
    let core = Core::open(config).await.unwrap();
    let fake = FakeProvider::start().await;
    let me = Caller::embedded();
    // The endpoint first: a key is bound to the endpoint it is stored for.
    core.set_provider_endpoint(&me, provider, Some(&fake.base_url()))
        .await
        .unwrap();
    core.set_provider_key(&me, provider, &SecretString::new(KEY))
        .await
        .unwrap();
    Rig {
        core,
        fake,
        me,
        _dir: dir,
    }
}

impl Rig {
    /// The HTTP listener on a free port of 127.0.0.1, with this token.
    pub async fn listen(&self, token: &str) -> Listener {
        Listener::start(
            self.core.clone(),
            ListenerOptions {
                token: Some(token.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    /// `GET url` with this bearer token, as JSON.
    pub async fn get_json(url: &str, token: &str) -> Value {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Submits this task request body; returns its id.
    pub async fn submit_body(&self, body: Value) -> String {
        let req: SubmitTaskRequest = serde_json::from_value(body).unwrap();
        self.core
            .submit_task(&self.me, req, None)
            .await
            .unwrap()
            .task_id
    }

    /// Submits a task in `mode` (on the fake's `openai`) with this context.
    pub async fn submit_in(&self, mode: &str, query: &str, context: Value) -> String {
        self.submit_body(json!({
            "query": query, "mode": mode, "provider_override": "openai", "context": context,
        }))
        .await
    }

    /// Submits a `complex` task with this context.
    pub async fn submit(&self, query: &str, context: Value) -> String {
        self.submit_in("complex", query, context).await
    }

    /// What a subscription delivers until the stream ends (bounded, so a bug fails, not hangs).
    pub async fn rest(sub: &mut TaskSubscription) -> Vec<TaskEvent> {
        let mut events = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(e) = sub.next().await {
                events.push(e);
            }
        })
        .await
        .expect("the task did not finish in time");
        events
    }

    /// A task in `mode` with this context, and its whole stream.
    pub async fn run_in(
        &self,
        mode: &str,
        query: &str,
        context: Value,
    ) -> (String, Vec<TaskEvent>) {
        let id = self.submit_in(mode, query, context).await;
        let mut sub = self
            .core
            .subscribe_task(&self.me, &id, None, None)
            .await
            .unwrap();
        let events = Self::rest(&mut sub).await;
        (id, events)
    }

    /// A `complex` task with this context, and its whole stream.
    pub async fn run_with(&self, query: &str, context: Value) -> (String, Vec<TaskEvent>) {
        self.run_in("complex", query, context).await
    }

    pub async fn run(&self, query: &str) -> (String, Vec<TaskEvent>) {
        self.run_with(query, json!({})).await
    }
}
