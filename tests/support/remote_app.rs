//! A test app in remote mode against the fake Shannon cloud: the cloud on its own runtime, a
//! profile `team` on it with its key, and the IPC calls the remote tests make most (shared by
//! tests/remote.rs and tests/remote_reads.rs).
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::fake_cloud::{self, FakeCloud, FakeConfig, Script, TEST_KEY};
use crate::log_capture;

/// Every log line of this test binary (a global subscriber, so the plugin's runtime threads write
/// here too), for the credential scan.
pub fn logs() -> &'static log_capture::Captured {
    static LOGS: OnceLock<log_capture::Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = log_capture::Captured::default();
        let writer = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        logs
    })
}

/// The fake cloud on a runtime of its own (the app under test has its own).
pub struct Cloud {
    pub rt: tokio::runtime::Runtime,
    pub fake: FakeCloud,
}

impl Cloud {
    pub fn start(cfg: FakeConfig) -> Self {
        logs();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(fake_cloud::start(cfg));
        Self { rt, fake }
    }

    pub fn quick(answer: &str, deltas: usize, delay_ms: u64) -> Self {
        Self::start(FakeConfig {
            script: Script::answer(answer, deltas, Duration::from_millis(delay_ms)),
            linger_after_end: Duration::from_millis(300),
            ..FakeConfig::default()
        })
    }

    pub fn stop(&self) {
        self.rt.block_on(self.fake.stop());
    }

    pub fn restart(&self) {
        self.rt.block_on(self.fake.restart());
    }
}

/// An app with a profile `team` on the fake, with the fake's API key stored.
pub fn app_on(cloud: &Cloud) -> TestApp {
    let t = TestApp::new();
    add_profile(&t, cloud, json!({}));
    t
}

pub fn add_profile(t: &TestApp, cloud: &Cloud, extra: Value) -> Value {
    let mut profile = json!({"id": "team", "name": "Team cloud", "base_url": cloud.fake.url()});
    for (k, v) in extra.as_object().unwrap() {
        profile[k] = v.clone();
    }
    let saved = t.ok("save_remote_profile", json!({"profile": profile}));
    if profile.get("auth") != Some(&json!("bearer")) && profile.get("auth") != Some(&json!("none"))
    {
        t.ok(
            "set_remote_credential",
            json!({"profileId": "team", "credential": {"kind": "api_key", "api_key": TEST_KEY}}),
        );
    }
    saved
}

pub fn submit(t: &TestApp, request: Value) -> Value {
    t.ok(
        "submit_task",
        json!({"request": request, "idempotencyKey": null}),
    )
}

/// Submits and returns the task id.
pub fn submitted(t: &TestApp, request: Value) -> String {
    submit(t, request)["task_id"].as_str().unwrap().to_string()
}

/// Subscribes on `channel` and returns every message up to STREAM_END.
pub fn stream(t: &TestApp, task: &str, channel: u32, after: Option<u32>) -> Vec<Value> {
    t.ok(
        "subscribe_task",
        json!({"taskId": task, "lastEventId": after, "types": null, "coalesce": false,
               "onEvent": format!("__CHANNEL__:{channel}")}),
    );
    let mut out = Vec::new();
    loop {
        let (ch, event) = t
            .channel_messages
            .recv_timeout(Duration::from_secs(60))
            .expect("an event before STREAM_END");
        if ch != channel {
            continue;
        }
        let end = event["type"] == "STREAM_END";
        out.push(event);
        if end {
            return out;
        }
    }
}

pub fn wait_status(t: &TestApp, task: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = t.ok("get_task", json!({"taskId": task}));
        if got["status"] == want {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{task} never became {want}: {got}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
