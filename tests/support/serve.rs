//! The headless example in serve mode as a child process, for tests that crash it (SIGKILL), fill
//! its disk or load it: launch on a data dir with a token (and optionally a provider base URL),
//! wait for `Shannon listening on <url>`, kill on drop.
//!
//! Include it from a test file with `#[path = "support/serve.rs"] mod serve;`
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The environment a headless child must not inherit from the test runner: provider keys and the
/// example's own settings would pick a real provider or another data dir.
pub const FOREIGN_VARS: &[&str] = &[
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "XAI_API_KEY",
    "MISTRAL_API_KEY",
    "OPENROUTER_API_KEY",
    "SHANNON_PROVIDER",
    "SHANNON_BASE_URL",
    "SHANNON_PROVIDER_BASE_URL",
    "SHANNON_API_KEY",
    "SHANNON_BEARER_TOKEN",
    "SHANNON_TOKEN",
    "SHANNON_PORT",
    "SHANNON_DATA_DIR",
];

pub const TOKEN: &str = "pipeline-test-token-0123456789abcdef";

/// target/debug/deps/<this test> → target/debug/examples/headless (`cargo test` builds examples;
/// `cargo test --test <name>` does not: then run `cargo build --example headless`).
pub fn headless_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/headless");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --example headless`",
        bin.display()
    );
    bin
}

/// How to launch the server.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// `(provider, base_url, key)`: the engine default provider, its base URL and its API key
    /// (as the environment variable the example reads); `None` = the offline demo provider.
    pub provider: Option<(String, String, String)>,
    /// Where the stdout/stderr logs go (default: the data dir).
    pub log_dir: Option<PathBuf>,
}

impl ServeOptions {
    /// An OpenAI-compatible provider at `base_url` (e.g. a fake provider's `…/v1`).
    pub fn openai(base_url: &str) -> Self {
        Self {
            provider: Some(("openai".into(), base_url.into(), "sk-test-pipeline".into())),
            log_dir: None,
        }
    }

    pub fn logs_in(mut self, dir: &Path) -> Self {
        self.log_dir = Some(dir.to_path_buf());
        self
    }
}

/// A running headless server; killed with SIGKILL (and reaped) when dropped.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub log: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn log_text(&self) -> String {
        let mut s = std::fs::read_to_string(&self.log).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default());
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the headless server on `data` and waits (up to 60 s) until it listens.
pub fn serve(data: &Path, opts: &ServeOptions) -> Server {
    static LAUNCHES: AtomicU32 = AtomicU32::new(0);
    let n = LAUNCHES.fetch_add(1, Ordering::Relaxed);
    let log_dir = opts.log_dir.clone().unwrap_or_else(|| data.to_path_buf());
    let log = log_dir.join(format!("serve-{}-{n}.log", std::process::id()));
    let out = std::fs::File::create(&log).unwrap();
    let err = std::fs::File::create(log.with_extension("err")).unwrap();
    let mut cmd = Command::new(headless_binary());
    cmd.arg("--data-dir")
        .arg(data)
        .args(["serve", "--port", "0", "--token", TOKEN])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // Keys from the test runner's environment must not pick a real provider.
    for var in FOREIGN_VARS {
        cmd.env_remove(var);
    }
    if let Some((provider, url, key)) = &opts.provider {
        cmd.args(["--provider", provider, "--base-url", url]);
        cmd.env(format!("{}_API_KEY", provider.to_uppercase()), key);
    }
    let mut server = Server {
        child: Some(cmd.spawn().unwrap()),
        url: String::new(),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&server.log).unwrap_or_default();
        if let Some(url) = text
            .lines()
            .find_map(|l| l.strip_prefix("Shannon listening on "))
        {
            server.url = url.trim().to_string();
            return server;
        }
        assert!(
            server.alive(),
            "the server exited before listening: {}",
            server.log_text()
        );
        assert!(
            Instant::now() < deadline,
            "the server did not start: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// VmRSS of a process in KiB (0 if it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `GET /api/v1/tasks/{id}`'s status, `None` while the server does not answer.
pub async fn task_status(http: &reqwest::Client, url: &str, id: &str) -> Option<String> {
    let v: serde_json::Value = http
        .get(format!("{url}/api/v1/tasks/{id}"))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["status"].as_str().map(str::to_string)
}

/// `POST /api/v1/tasks`, which must be accepted; returns the response body.
pub async fn submit(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let resp = http
        .post(format!("{url}/api/v1/tasks"))
        .bearer_auth(TOKEN)
        .json(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert!(status.is_success(), "submit: {status} {body}");
    body
}
