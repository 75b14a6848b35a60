//! The command-line example (`examples/headless`) as a user runs it: the built binary as a child
//! process, against the fake OpenAI-compatible provider. Each subcommand, the exit codes (0 ok,
//! 1 failure, 2 usage, 130 Ctrl-C), `--help`, a running local provider used when no key is stored,
//! nothing written that was not asked for, and Ctrl-C: the task ends CANCELLED, durably, and no
//! later run (neither the CLI nor `serve`, which resumes interrupted tasks) resumes or bills it.
//!
//! Needs the example built: `cargo test` builds it; with `--test cli` run
//! `cargo build --example headless` first.

#[path = "support/fake_cloud/mod.rs"]
mod fake_cloud;
#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/serve.rs"]
mod serve;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_provider::{FakeProvider, FakeUsage, Reply, Scripted};
use rusqlite::Connection;
use serde_json::Value;
use tauri_plugin_shannon::core::store::DATABASE_FILE;

fn command(data: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(serve::headless_binary());
    cmd.arg("--data-dir").arg(data).args(args);
    for var in serve::FOREIGN_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs the CLI to its end with `stdin` as its input.
fn run(data: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command(data, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cli(data: &Path, args: &[&str]) -> Ran {
    cli_with_input(data, args, "")
}

fn cli_with_input(data: &Path, args: &[&str], stdin: &str) -> Ran {
    let out = run(data, args, stdin);
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Ran {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The task id the CLI announces on stderr (`task <id> (session <id>)`).
fn task_id(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("task ")?.split_whitespace().next())
        .unwrap_or_else(|| panic!("no task line in {stderr}"))
        .to_string()
}

fn stored_status(data: &Path, task: &str) -> String {
    let db = Connection::open(data.join(DATABASE_FILE)).unwrap();
    db.query_row(
        "SELECT status FROM tasks WHERE workflow_id = ?1",
        [task],
        |r| r.get(0),
    )
    .unwrap()
}

/// Ctrl-C, as a terminal sends it: SIGINT (through the shell's built-in `kill`, present wherever
/// `sh` is, unlike procps' /bin/kill).
fn interrupt(pid: u32) {
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -INT {pid}");
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A data dir whose OpenAI key (from stdin, bound to the fake's endpoint) was stored by `keys set`.
fn with_fake_openai(fake: &FakeProvider) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let base = format!("{}/v1", fake.base_url());
    let set = cli_with_input(
        data.path(),
        &["keys", "set", "openai", "--base-url", &base],
        "sk-cli-test-0123456789abcdef\n",
    )
    .ok();
    assert!(
        set.stdout.contains("stored the openai key"),
        "{}",
        set.stdout
    );
    data
}

#[test]
fn help_describes_every_subcommand_and_exits_0() {
    let data = tempfile::tempdir().unwrap();
    let top = cli(data.path(), &["--help"]).ok();
    for word in [
        "ask",
        "chat",
        "serve",
        "tasks",
        "sessions",
        "keys",
        "export",
        "import",
        "pull",
        "Exit codes",
    ] {
        assert!(top.stdout.contains(word), "{word}: {}", top.stdout);
    }
    let ask = cli(data.path(), &["ask", "--help"]).ok();
    for flag in [
        "--mode",
        "--provider",
        "--model",
        "--session",
        "--remote",
        "QUESTION",
    ] {
        assert!(ask.stdout.contains(flag), "{flag}: {}", ask.stdout);
    }
    let keys = cli(data.path(), &["keys", "--help"]).ok();
    for word in ["set", "list", "delete", "masked"] {
        assert!(keys.stdout.contains(word), "{word}: {}", keys.stdout);
    }
    let serve = cli(data.path(), &["serve", "--help"]).ok();
    for flag in [
        "--port",
        "--token",
        "--provider",
        "--base-url",
        "SHANNON_PORT",
    ] {
        assert!(serve.stdout.contains(flag), "{flag}: {}", serve.stdout);
    }
    for sub in [
        ["tasks", "--help"],
        ["sessions", "--help"],
        ["chat", "--help"],
    ] {
        cli(data.path(), &sub).ok();
    }
    // Help writes nothing: the data dir is not even created.
    assert!(!data.path().join(DATABASE_FILE).exists());
}

/// Reading a data dir that does not exist answers as an empty one and creates nothing.
#[test]
fn reading_a_data_dir_with_no_data_creates_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let fresh = parent.path().join("fresh");
    let list = cli(&fresh, &["tasks", "list", "--json"]).ok();
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(list["total_count"], 0);
    assert!(
        cli(&fresh, &["sessions", "list"])
            .ok()
            .stdout
            .starts_with("SESSION")
    );
    assert!(
        cli(&fresh, &["keys", "list"])
            .ok()
            .stderr
            .contains("no keys stored")
    );
    for args in [
        &["tasks", "show", "task-x"][..],
        &["sessions", "show", "notes"],
        &["keys", "delete", "openai"],
    ] {
        let ran = cli(&fresh, args);
        assert_eq!(ran.code, 1, "{args:?}");
        assert!(ran.stderr.contains("error [not_found]"), "{}", ran.stderr);
        assert!(ran.stderr.contains("no Shannon data in"), "{}", ran.stderr);
    }
    assert!(!fresh.exists(), "nothing was created");
}

#[test]
fn usage_errors_exit_2_and_failures_exit_1_with_a_stable_code() {
    let data = tempfile::tempdir().unwrap();
    for args in [
        &["bogus"][..],
        &["ask", "--mode", "sideways", "hi"],
        &[
            "ask",
            "--remote",
            "https://example.com",
            "--provider",
            "openai",
        ],
        &["tasks", "show"],
        &["tasks", "list", "--limit", "0"],
        &["keys", "set"],
        &["serve", "--port", "not-a-port"],
    ] {
        let ran = cli(data.path(), args);
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        assert!(
            ran.stderr.starts_with("error: "),
            "{args:?}: {}",
            ran.stderr
        );
        assert!(ran.stderr.contains("--help"), "{args:?}: {}", ran.stderr);
    }
    let missing = cli(data.path(), &["tasks", "show", "task-nope"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("error [not_found]"),
        "{}",
        missing.stderr
    );
    let unknown = cli(data.path(), &["ask", "--provider", "nosuch", "hi"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains("error [invalid_request]: invalid request: Invalid provider_override"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn ask_streams_the_demo_answer_and_writes_nothing_it_was_not_asked_for() {
    let data = tempfile::tempdir().unwrap();
    let ran = cli(
        data.path(),
        &["ask", "--provider", "demo", "Why is the sky blue?"],
    )
    .ok();
    assert!(
        ran.stdout.contains("Offline demo provider") && ran.stdout.contains("Why is the sky blue?"),
        "the answer goes to stdout: {}",
        ran.stdout
    );
    assert!(
        !ran.stdout.contains("task-"),
        "only the answer is on stdout"
    );
    assert!(
        ran.stderr.contains("TASK_STATUS_COMPLETED on demo"),
        "{}",
        ran.stderr
    );
    // No subcommand: the newcomer's `scripts/run-example.sh` asks the default question.
    let default = cli(data.path(), &[]).ok();
    assert!(
        default.stdout.contains("embedded multi-agent engine"),
        "{}",
        default.stdout
    );
    let db = Connection::open(data.path().join(DATABASE_FILE)).unwrap();
    let settings: i64 = db
        .query_row("SELECT COUNT(*) FROM user_settings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(settings, 0, "no setting was asked for (no ui.theme)");
    let keys: i64 = db
        .query_row("SELECT COUNT(*) FROM provider_api_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(keys, 0);
    // Two questions, two sessions: no fixed session collects every run.
    let sessions: i64 = db
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sessions, 2);
}

#[test]
fn ask_on_a_provider_with_mode_model_and_session() {
    let rt = rt();
    let fake = rt.block_on(FakeProvider::start());
    let data = with_fake_openai(&fake);
    fake.push(Scripted::Stream(
        Reply::text(["Rayleigh ", "scattering."]).usage(FakeUsage::new(12, 3)),
    ))
    .push(Scripted::Stream(Reply::text(["Still Rayleigh."])));
    let first = cli(
        data.path(),
        &[
            "ask",
            "--provider",
            "openai",
            "--model",
            "gpt-4.1-mini",
            "--mode",
            "simple",
            "--session",
            "sky",
            "Why is the sky blue?",
        ],
    )
    .ok();
    assert_eq!(first.stdout.trim(), "Rayleigh scattering.");
    assert!(
        first.stderr.contains("TASK_STATUS_COMPLETED on openai / ")
            && first.stderr.contains(": 15 tokens"),
        "{}",
        first.stderr
    );
    // No provider named: the one with a stored key answers, in the same session.
    let second = cli(data.path(), &["ask", "--session", "sky", "And at sunset?"]).ok();
    assert_eq!(second.stdout.trim(), "Still Rayleigh.");
    assert!(
        second.stderr.contains("answering on OpenAI"),
        "{}",
        second.stderr
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body["model"], "gpt-4.1-mini");
    let history = requests[1].body["messages"].to_string();
    assert!(
        history.contains("Why is the sky blue?") && history.contains("Rayleigh scattering."),
        "the second turn carries the first: {history}"
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sk-cli-test-0123456789abcdef")
    );
}

/// A key in the environment (as `OPENAI_API_KEY=… headless`) is stored the first time, announced
/// masked, and not written again while it is the same.
#[test]
fn an_environment_key_is_stored_once_announced_masked_and_used() {
    let rt = rt();
    let fake = rt.block_on(FakeProvider::start());
    let data = with_fake_openai(&fake);
    fake.set_fallback(Scripted::Stream(Reply::text(["ok"])));
    let env_key = "sk-from-env-ABCDEFGHIJKLMNOP";
    let ask = || {
        let out = command(data.path(), &["ask", "hi"])
            .env("OPENAI_API_KEY", env_key)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = ask();
    assert!(
        first.contains("stored OPENAI_API_KEY as the openai key (sk-f****MNOP)"),
        "{first}"
    );
    assert!(!first.contains("ABCDEFGHIJ"), "{first}");
    let second = ask();
    assert!(!second.contains("stored OPENAI_API_KEY"), "{second}");
    let requests = fake.requests();
    assert_eq!(
        requests.last().unwrap().header("authorization"),
        Some(format!("Bearer {env_key}").as_str())
    );
}

#[test]
fn a_task_that_fails_exits_1() {
    let rt = rt();
    let fake = rt.block_on(FakeProvider::start());
    let data = with_fake_openai(&fake);
    fake.set_fallback(Scripted::Status(400, None));
    let ran = cli(data.path(), &["ask", "--provider", "openai", "hi"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("the task ended TASK_STATUS_FAILED"),
        "{}",
        ran.stderr
    );
}

#[test]
fn chat_runs_every_line_in_one_session() {
    let data = tempfile::tempdir().unwrap();
    let ran = cli_with_input(
        data.path(),
        &["chat", "--provider", "demo"],
        "first question\n\nsecond question\n/exit\nnever asked\n",
    )
    .ok();
    assert!(ran.stdout.contains("first question"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("I was given 2 earlier messages"),
        "the second turn sees the first: {}",
        ran.stdout
    );
    let list = cli(data.path(), &["tasks", "list", "--json"]).ok();
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(list["total_count"], 2, "{list}");
    let tasks = list["tasks"].as_array().unwrap();
    assert_eq!(tasks[0]["session_id"], tasks[1]["session_id"]);
}

#[test]
fn tasks_and_sessions_list_and_show() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let one = cli(
        d,
        &["ask", "--provider", "demo", "--session", "notes", "alpha"],
    )
    .ok();
    cli(
        d,
        &["ask", "--provider", "demo", "--session", "notes", "beta"],
    )
    .ok();
    cli(d, &["ask", "--provider", "demo", "gamma"]).ok();
    let id = task_id(&one.stderr);

    let list = cli(d, &["tasks", "list"]).ok();
    assert_eq!(
        list.stdout.lines().count(),
        4,
        "a header and 3 rows: {}",
        list.stdout
    );
    assert!(list.stdout.contains(&id) && list.stdout.contains("COMPLETED"));
    let in_session = cli(d, &["tasks", "list", "--session", "notes", "--json"]).ok();
    let page: Value = serde_json::from_str(&in_session.stdout).unwrap();
    assert_eq!(page["total_count"], 2);
    let limited = cli(d, &["tasks", "list", "--limit", "1", "--json"]).ok();
    let page: Value = serde_json::from_str(&limited.stdout).unwrap();
    assert_eq!(
        (
            page["tasks"].as_array().unwrap().len(),
            &page["total_count"]
        ),
        (1, &3.into())
    );

    let show = cli(d, &["tasks", "show", &id]).ok();
    assert!(
        show.stdout.contains("status     COMPLETED"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("> alpha"), "{}", show.stdout);
    let json = cli(d, &["tasks", "show", &id, "--json"]).ok();
    let task: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(task["status"], "TASK_STATUS_COMPLETED");

    let sessions = cli(d, &["sessions", "list"]).ok();
    assert_eq!(sessions.stdout.lines().count(), 3, "{}", sessions.stdout);
    let notes = cli(d, &["sessions", "show", "notes"]).ok();
    assert!(
        notes.stdout.contains("> alpha") && notes.stdout.contains("> beta"),
        "{}",
        notes.stdout
    );
    assert!(!notes.stdout.contains("gamma"));
    let missing = cli(d, &["sessions", "show", "nosuch"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("error [not_found]"),
        "{}",
        missing.stderr
    );
}

#[test]
fn keys_are_read_from_stdin_listed_masked_and_deleted() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let secret = "sk-live-SECRETSECRET-9876543210";
    let set = cli_with_input(d, &["keys", "set", "groq"], &format!("{secret}\n")).ok();
    let list = cli(d, &["keys", "list"]).ok();
    for out in [&set.stdout, &set.stderr, &list.stdout, &list.stderr] {
        assert!(
            !out.contains("SECRETSECRET"),
            "a key is never printed: {out}"
        );
    }
    assert!(list.stdout.starts_with("groq"), "{}", list.stdout);
    assert!(list.stdout.contains("****"), "{}", list.stdout);
    let db = std::fs::read(d.join(DATABASE_FILE)).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "encrypted at rest"
    );

    cli(d, &["keys", "delete", "groq"]).ok();
    assert!(cli(d, &["keys", "list"]).ok().stdout.is_empty());
    let again = cli(d, &["keys", "delete", "groq"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("error [not_found]"),
        "{}",
        again.stderr
    );
    let empty = cli_with_input(d, &["keys", "set", "groq"], "");
    assert_eq!(empty.code, 1);
    assert!(empty.stderr.contains("no key on stdin"), "{}", empty.stderr);
    let demo = cli_with_input(d, &["keys", "set", "demo"], "sk-x\n");
    assert_eq!(demo.code, 1, "{}", demo.stderr);
}

/// A running local OpenAI-compatible server (as Ollama's): lists one model and answers every chat
/// request with one streamed sentence, recording the model each request named.
async fn local_server() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::routing::{get, post};
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let app = axum::Router::new()
        .route(
            "/v1/models",
            get(|| async { axum::Json(serde_json::json!({"data": [{"id": "qwen3-local"}]})) }),
        )
        .route(
            "/v1/chat/completions",
            post(move |axum::Json(body): axum::Json<Value>| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap()
                        .push(body["model"].as_str().unwrap_or("").to_string());
                    let chunk = |delta: Value, finish: Value| {
                        format!(
                            "data: {}\n\n",
                            serde_json::json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
                        )
                    };
                    let body = chunk(serde_json::json!({"content": "A local answer."}), Value::Null)
                        + &chunk(serde_json::json!({}), "stop".into())
                        + "data: [DONE]\n\n";
                    ([("content-type", "text/event-stream")], body)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, asked)
}

#[test]
fn a_running_local_provider_answers_when_no_key_is_stored() {
    let rt = rt();
    let (url, asked) = rt.block_on(local_server());
    let data = tempfile::tempdir().unwrap();
    // Where "Ollama" runs, as a user sets it (the default is 127.0.0.1:11434).
    rt.block_on(async {
        use tauri_plugin_shannon::core::auth::Caller;
        let core =
            tauri_plugin_shannon::Core::open(tauri_plugin_shannon::CoreConfig::new(data.path()))
                .await
                .unwrap();
        core.set_provider_endpoint(&Caller::embedded(), "ollama", Some(&url))
            .await
            .unwrap();
        core.shutdown(Duration::from_secs(5)).await;
    });
    let ran = cli(data.path(), &["ask", "hello"]).ok();
    assert_eq!(ran.stdout.trim(), "A local answer.");
    assert!(
        ran.stderr.contains("answering on Ollama (local)")
            && ran.stderr.contains("model qwen3-local"),
        "{}",
        ran.stderr
    );
    // Named without a model, a local provider answers with the first model it lists too.
    let named = cli(data.path(), &["ask", "--provider", "ollama", "again"]).ok();
    assert_eq!(named.stdout.trim(), "A local answer.");
    assert_eq!(*asked.lock().unwrap(), ["qwen3-local", "qwen3-local"]);
}

/// Ctrl-C mid-answer: the CLI says it cancels, the task ends CANCELLED in the store before the
/// process exits (130), and neither a later CLI run nor `serve` (which resumes interrupted tasks)
/// runs it again: the provider is never asked for it a second time.
#[test]
fn ctrl_c_cancels_the_task_and_no_later_run_resumes_it() {
    let rt = rt();
    let fake = rt.block_on(FakeProvider::start());
    let data = with_fake_openai(&fake);
    let words: Vec<String> = (0..200).map(|i| format!("word{i} ")).collect();
    fake.push(Scripted::Slow(
        Reply::text(words),
        Duration::from_millis(100),
    ));
    let out = data.path().join("ask.out");
    let err = data.path().join("ask.err");
    let mut child = command(
        data.path(),
        &["ask", "--provider", "openai", "a long answer"],
    )
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(&out).unwrap())
    .stderr(std::fs::File::create(&err).unwrap())
    .spawn()
    .unwrap();
    // Interrupted once the answer is streaming.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&out)
        .unwrap_or_default()
        .contains("word2")
    {
        assert!(Instant::now() < deadline, "no answer streamed");
        assert!(child.try_wait().unwrap().is_none(), "the ask ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    interrupt(child.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "Ctrl-C did not end the ask");
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let task = task_id(&stderr);
    assert!(
        stderr.contains(&format!("interrupted: cancelling task {task}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("task {task} cancelled: it will not be resumed")),
        "{stderr}"
    );
    let answer = std::fs::read_to_string(&out).unwrap();
    assert!(!answer.contains("word199"), "the answer stopped: {answer}");
    assert_eq!(
        stored_status(data.path(), &task),
        "CANCELLED",
        "durable before exit"
    );
    assert_eq!(fake.request_count(), 1);

    // The next CLI run: the task stays cancelled and the provider is not asked again.
    cli(data.path(), &["ask", "--provider", "demo", "next"]).ok();
    let shown = cli(data.path(), &["tasks", "show", &task]).ok();
    assert!(
        shown.stdout.contains("status     CANCELLED"),
        "{}",
        shown.stdout
    );

    // `serve` resumes tasks an exit left running; a cancelled one is not among them. A task
    // submitted after it started completes, by which time a resumed one would have called.
    fake.push(Scripted::Stream(Reply::text(["served"])));
    let server = serve::serve(
        data.path(),
        &serve::ServeOptions::openai(&format!("{}/v1", fake.base_url())),
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    rt.block_on(async {
        let body = serde_json::json!({"query": "after the restart", "mode": "simple"});
        let id = serve::submit(&http, &server.url, &body).await["task_id"]
            .as_str()
            .unwrap()
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        while serve::task_status(&http, &server.url, &id).await.as_deref()
            != Some("TASK_STATUS_COMPLETED")
        {
            assert!(Instant::now() < deadline, "{}", server.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            serve::task_status(&http, &server.url, &task)
                .await
                .as_deref(),
            Some("TASK_STATUS_CANCELLED")
        );
    });
    assert_eq!(
        fake.request_count(),
        2,
        "the cancelled task was not resumed: {:?}",
        fake.requests()
            .iter()
            .map(|r| r.body["messages"].to_string())
            .collect::<Vec<_>>()
    );
}

/// In `chat`, Ctrl-C during an answer cancels that answer only: the conversation goes on with the
/// next line, in the same session, and ends normally (exit 0).
#[test]
fn ctrl_c_in_chat_cancels_the_answer_and_the_conversation_goes_on() {
    let rt = rt();
    let fake = rt.block_on(FakeProvider::start());
    let data = with_fake_openai(&fake);
    let words: Vec<String> = (0..200).map(|i| format!("word{i} ")).collect();
    fake.push(Scripted::Slow(
        Reply::text(words),
        Duration::from_millis(100),
    ))
    .push(Scripted::Stream(Reply::text(["The second answer."])));
    let out = data.path().join("chat.out");
    let err = data.path().join("chat.err");
    let mut child = command(data.path(), &["chat", "--provider", "openai"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a long answer please\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&out)
        .unwrap_or_default()
        .contains("word2")
    {
        assert!(Instant::now() < deadline, "no answer streamed");
        std::thread::sleep(Duration::from_millis(10));
    }
    interrupt(child.id());
    while !std::fs::read_to_string(&err)
        .unwrap_or_default()
        .contains("cancelled: it will not be resumed")
    {
        assert!(Instant::now() < deadline, "the answer was not cancelled");
        std::thread::sleep(Duration::from_millis(10));
    }
    stdin.write_all(b"and now a short one\n").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("The second answer."),
        "{stderr}"
    );
    let first = task_id(&stderr);
    assert_eq!(stored_status(data.path(), &first), "CANCELLED");
    assert_eq!(fake.request_count(), 2);
    let list = cli(data.path(), &["tasks", "list", "--json"]).ok();
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    let tasks = list["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(
        tasks[0]["session_id"], tasks[1]["session_id"],
        "the second turn is in the same session"
    );
}

#[test]
fn export_then_import_moves_the_history_to_another_data_dir_once() {
    let (from, to, out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let asked = cli(
        from.path(),
        &["ask", "--provider", "demo", "--session", "trip", "alpha"],
    )
    .ok();
    let id = task_id(&asked.stderr);
    let bundle = out.path().join("bundle");
    let bundle = bundle.to_str().unwrap();
    let exported = cli(from.path(), &["export", "--out", bundle]).ok();
    assert!(
        exported.stderr.contains("exported 1 sessions, 1 tasks"),
        "{}",
        exported.stderr
    );
    // A folder that holds something is never written into: a failure with its code.
    let again = cli(from.path(), &["export", "--out", bundle]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("error [invalid_request]"),
        "{}",
        again.stderr
    );

    let imported = cli(to.path(), &["import", bundle]).ok();
    assert!(
        imported.stderr.contains("imported 1 sessions"),
        "{}",
        imported.stderr
    );
    let list = cli(to.path(), &["tasks", "list"]).ok();
    assert!(
        list.stdout.contains(&id) && list.stdout.contains("COMPLETED"),
        "{}",
        list.stdout
    );
    let twice = cli(to.path(), &["import", bundle]).ok();
    assert!(
        twice.stderr.contains("0 tasks (1 already here)"),
        "{}",
        twice.stderr
    );
    assert_eq!(cli(to.path(), &["import", "--help"]).code, 0);
}

#[test]
fn pull_brings_a_cloud_history_and_a_second_pull_adds_nothing() {
    let rt = rt();
    let cloud = rt.block_on(fake_cloud::start(fake_cloud::FakeConfig {
        script: fake_cloud::Script::answer("From the cloud.", 2, Duration::ZERO),
        linger_after_end: Duration::from_millis(200),
        ..fake_cloud::FakeConfig::default()
    }));
    let _ = rustls::crypto::ring::default_provider().install_default();
    rt.block_on(async {
        for session in ["trip", "trip", "work"] {
            let r = reqwest::Client::new()
                .post(format!("{}/api/v1/tasks", cloud.url()))
                .header("X-API-Key", fake_cloud::TEST_KEY)
                .json(&serde_json::json!({"query": "plan it", "session_id": session}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while cloud
        .workflows()
        .iter()
        .any(|wf| cloud.task_status(wf).as_deref() != Some("COMPLETED"))
    {
        assert!(Instant::now() < deadline, "the cloud tasks never completed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let data = tempfile::tempdir().unwrap();
    let pull = |data: &Path| {
        let out = command(data, &["pull", "--remote", &cloud.url()])
            .env("SHANNON_API_KEY", fake_cloud::TEST_KEY)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, said) = pull(data.path());
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("pulled 2 of 2 sessions (0 already here), 3 tasks"),
        "{said}"
    );
    assert!(
        !said.contains(fake_cloud::TEST_KEY),
        "the key is never printed"
    );
    let list = cli(data.path(), &["sessions", "list"]).ok();
    assert_eq!(
        list.stdout.lines().count(),
        3,
        "a header and 2 sessions: {}",
        list.stdout
    );
    let (code, again) = pull(data.path());
    assert_eq!(code, Some(0), "{again}");
    assert!(
        again.contains("pulled 0 of 2 sessions (2 already here), 0 tasks"),
        "{again}"
    );
}
