//! Headless example: runs the Shannon core without a window on the embedded defaults (SQLite in a
//! local data dir, the offline demo provider when no key is configured), exercises settings and
//! encrypted provider keys, then streams the answer to a question token by token.
//!
//! ```sh
//! cargo run --example headless                          # data in ./target/shannon-headless
//! cargo run --example headless -- --query "Why is the sky blue?"
//! cargo run --example headless -- --data-dir /tmp/s     # anywhere else
//! cargo run --example headless -- --key-storage auto    # master key in the OS keychain (default: file)
//! OPENAI_API_KEY=sk-... cargo run --example headless    # store a real key (shown masked only) and use it
//! SHANNON_API_KEY=sk_... cargo run --example headless -- --remote https://shannon.example.com
//!                                                       # the question runs on a Shannon cloud
//! ```

use std::path::PathBuf;
use std::time::Duration;

use std::io::Write;
use tauri_plugin_shannon::core::auth::Caller;

use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::store::SCHEMA_VERSION;
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;
use tauri_plugin_shannon::{Core, CoreConfig, KeyStorage, ShannonError};

/// Environment variables the example reads provider keys from.
const KEY_VARS: &[(&str, &str)] = &[
    ("openai", "OPENAI_API_KEY"),
    ("anthropic", "ANTHROPIC_API_KEY"),
    ("google", "GOOGLE_API_KEY"),
    ("groq", "GROQ_API_KEY"),
    ("deepseek", "DEEPSEEK_API_KEY"),
    ("xai", "XAI_API_KEY"),
    ("mistral", "MISTRAL_API_KEY"),
    ("openrouter", "OPENROUTER_API_KEY"),
];

struct Args {
    data_dir: PathBuf,
    key_storage: KeyStorage,
    query: String,
    serve: Option<Serve>,
    /// `--remote URL`: run the question on a Shannon cloud (remote mode).
    remote: Option<String>,
}

/// `serve`: run the loopback listener in the foreground (for scripts, SDKs and tests).
struct Serve {
    port: u16,
    token: Option<String>,
    provider: Option<String>,
    base_url: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut data_dir = std::env::var_os("SHANNON_DATA_DIR").map(PathBuf::from);
    let mut key_storage = KeyStorage::File;
    let mut query = "What can an embedded multi-agent engine do for a desktop app?".to_string();
    let mut serve = None;
    let mut remote = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "serve" => {
                serve = Some(Serve {
                    port: env("SHANNON_PORT")
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0),
                    token: env("SHANNON_TOKEN"),
                    provider: env("SHANNON_PROVIDER"),
                    // SHANNON_BASE_URL is the cloud's address to the SDK and the CLI; the
                    // provider's own endpoint has a name of its own.
                    base_url: env("SHANNON_PROVIDER_BASE_URL"),
                })
            }
            "--port" | "--token" | "--provider" | "--base-url" => {
                let value = args.next().ok_or(format!("{arg} needs a value"))?;
                let s = serve.as_mut().ok_or(format!("{arg} goes after `serve`"))?;
                match arg.as_str() {
                    "--port" => s.port = value.parse().map_err(|_| "--port needs a number")?,
                    "--token" => s.token = Some(value),
                    "--provider" => s.provider = Some(value),
                    _ => s.base_url = Some(value),
                }
            }
            "--data-dir" => {
                data_dir = Some(args.next().ok_or("--data-dir needs a path")?.into());
            }
            "--key-storage" => {
                key_storage = args
                    .next()
                    .ok_or("--key-storage needs auto, keychain or file")?
                    .parse()?;
            }
            "--query" | "-q" => query = args.next().ok_or("--query needs a question")?,
            "--remote" => remote = Some(args.next().ok_or("--remote needs the cloud's URL")?),
            "-h" | "--help" => {
                println!(
                    "usage: headless [--data-dir DIR] [--key-storage auto|keychain|file] [--query TEXT] [--remote URL]\n       headless [--data-dir DIR] [--key-storage auto|keychain|file] serve [--port N] [--token T] [--provider P] [--base-url URL]\n\
                     environment: SHANNON_DATA_DIR, SHANNON_PORT, SHANNON_TOKEN, SHANNON_PROVIDER, SHANNON_PROVIDER_BASE_URL,\n\
                     provider keys such as OPENAI_API_KEY, and for --remote SHANNON_API_KEY or SHANNON_BEARER_TOKEN"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(Args {
        data_dir: data_dir.unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/shannon-headless")
        }),
        key_storage,
        query,
        serve,
        remote,
    })
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error [{}]: {e}", e.code());
        std::process::exit(1);
    }
}

async fn run() -> Result<(), ShannonError> {
    let Args {
        data_dir,
        key_storage,
        query,
        serve,
        remote,
    } = parse_args().map_err(ShannonError::Config)?;
    println!("Shannon embedded core (headless)");
    println!("  data dir     {}", data_dir.display());
    let mut config = CoreConfig::new(data_dir.clone());
    config.key_storage = key_storage;
    let core = Core::open(config).await?;
    println!(
        "  database     {} (schema v{}, WAL)",
        core.store().path().display(),
        *SCHEMA_VERSION
    );
    if core.key_storage() == KeyStorage::File {
        println!(
            "  master key   {} (mode 0600)",
            data_dir.join("master.key").display()
        );
    } else {
        println!(
            "  master key   {}",
            core.key_store()
                .describe(tauri_plugin_shannon::core::keystore::MASTER_SLOT)
        );
    }

    let me = Caller::embedded();
    if let Some(serve) = serve {
        return run_server(core, serve).await;
    }
    let profile = core.me(&me).await?;
    println!("  acting as    {} ({})", profile.username, profile.user_id);

    // Settings: JSON values per user.
    let runs = match core.get_setting(&me, "example.runs").await {
        Ok(s) => s.value.parse::<u64>().unwrap_or(0) + 1,
        Err(ShannonError::NotFound(_)) => 1,
        Err(e) => return Err(e),
    };
    core.set_setting(&me, "example.runs", &runs.to_string())
        .await?;
    core.set_setting(&me, "ui.theme", "\"dark\"").await?;
    println!("\nSettings");
    for s in core.list_settings(&me).await? {
        println!("  {:<28} {}", s.key, s.value);
    }

    // Provider keys from the environment, encrypted at rest; only masked forms are ever shown.
    let mut stored_now = Vec::new();
    for (provider, var) in KEY_VARS {
        if let Ok(value) = std::env::var(var)
            && !value.trim().is_empty()
        {
            core.set_provider_key(&me, provider, &SecretString::new(value))
                .await?;
            stored_now.push(*provider);
        }
    }
    println!("\nProvider keys (AES-256-GCM at rest)");
    let keys = core.list_provider_keys(&me).await?;
    if keys.is_empty() {
        println!("  none stored (set e.g. OPENAI_API_KEY to store one)");
    }
    for k in &keys {
        let origin = if stored_now.contains(&k.provider.as_str()) {
            "from the environment"
        } else {
            "stored earlier"
        };
        println!("  {:<12} {:<16} {origin}", k.provider, k.masked_key);
    }

    println!("\nProvider readiness");
    let status = core.provider_status(&me).await?;
    for p in &status {
        let state = if p.ready { "ready" } else { "not ready" };
        let why = p.reason.as_deref().unwrap_or("");
        println!("  {:<12} {:<10} {why}", p.provider, state);
    }
    // The first provider with a stored key, else the offline demo.
    let chosen = status.iter().find(|p| p.ready && p.requires_key);
    match chosen {
        Some(p) => println!(
            "\nAnswering on {} (key {})",
            p.provider,
            p.masked_key.as_deref().unwrap_or("")
        ),
        None => println!(
            "\nAnswering on the OFFLINE DEMO provider (canned text, no network): no provider key is configured"
        ),
    }
    let provider = chosen.map_or("demo", |p| p.provider.as_str());
    let request: SubmitTaskRequest = match &remote {
        Some(url) => {
            let target = remote_profile(&core, url).await?;
            serde_json::from_value(serde_json::json!({
                "query": query,
                // A session lives on one backend: the remote conversation has its own.
                "session_id": "headless-remote",
                "target": target,
            }))?
        }
        None => serde_json::from_value(serde_json::json!({
            "query": query,
            "session_id": "headless-example",
            "provider_override": provider,
        }))?,
    };
    let submitted = core.submit_task(&me, request, None).await?;
    let mut events = core
        .subscribe_task(&me, &submitted.task_id, None, None)
        .await?;
    println!("task {}\n\n> {query}\n", submitted.task_id);
    let mut streamed = String::new();
    let mut out = std::io::stdout();
    while let Some(event) = events.next().await {
        match event.event_type.as_str() {
            "LLM_PARTIAL" => {
                let delta = event.message.unwrap_or_default();
                streamed.push_str(&delta);
                let _ = write!(out, "{delta}");
                let _ = out.flush();
            }
            "STREAM_END" => break,
            // A progress line per step, so the run is visible even before tokens arrive.
            "WORKFLOW_STARTED" | "AGENT_STARTED" | "TOOL_INVOKED" | "TOOL_OBSERVATION"
            | "PROGRESS" | "ERROR_OCCURRED" | "WORKFLOW_CANCELLED" => {
                eprintln!(
                    "  · {} {}",
                    event.event_type,
                    event.message.unwrap_or_default()
                );
            }
            _ => {}
        }
    }
    let task = core.get_task(&me, &submitted.task_id).await?;
    if streamed.is_empty() && !task.result.is_empty() {
        println!("{}", task.result);
    }
    println!("\n");
    let usage = task.usage.unwrap_or_default();
    println!(
        "{} on {} / {}: {} tokens, ${:.6}",
        task.status,
        task.provider.as_deref().unwrap_or("?"),
        task.model_used.as_deref().unwrap_or("?"),
        usage.total_tokens.unwrap_or(0),
        usage.estimated_cost.unwrap_or(0.0)
    );
    if let Some(err) = task.error {
        println!("error: {err}");
    }
    println!(
        "Run {runs} against this data dir; run again and the session remembers the earlier turns."
    );
    Ok(())
}

/// The profile `cli` for `--remote URL`, with the credential the official SDK and CLI read
/// (`SHANNON_API_KEY`, else `SHANNON_BEARER_TOKEN`, else none); verified before use.
async fn remote_profile(core: &Core, url: &str) -> Result<String, ShannonError> {
    use tauri_plugin_shannon::core::remote::{RemoteAuthKind, RemoteCredential, SaveRemoteProfile};
    let (auth, credential) = match (env("SHANNON_API_KEY"), env("SHANNON_BEARER_TOKEN")) {
        (Some(api_key), _) => (
            RemoteAuthKind::ApiKey,
            Some(RemoteCredential::ApiKey { api_key }),
        ),
        (None, Some(access_token)) => (
            RemoteAuthKind::Bearer,
            Some(RemoteCredential::Bearer {
                access_token,
                refresh_token: env("SHANNON_REFRESH_TOKEN"),
            }),
        ),
        (None, None) => (RemoteAuthKind::None, None),
    };
    let profile = core
        .save_remote_profile(SaveRemoteProfile {
            id: Some("cli".into()),
            name: "Shannon cloud (--remote)".into(),
            base_url: url.into(),
            auth: Some(auth),
            ..Default::default()
        })
        .await?;
    if credential.is_some() {
        core.set_remote_credential(&profile.id, credential).await?;
    }
    let report = core.verify_remote_profile(&profile.id, true).await?;
    println!(
        "\nAnswering on Shannon cloud ({}): auth {:?}, {} ms{}",
        report.host,
        report.auth,
        report.latency_ms.unwrap_or(0),
        report
            .problem
            .as_deref()
            .map(|p| format!(", {p}"))
            .unwrap_or_default()
    );
    Ok(profile.id)
}

/// Runs the listener until Ctrl-C, printing its URL once it is ready.
async fn run_server(core: Core, serve: Serve) -> Result<(), ShannonError> {
    let me = Caller::embedded();
    // The endpoint first: a key is bound to the endpoint it is stored for.
    if let Some(provider) = &serve.provider {
        core.set_engine_defaults(provider, None)?;
        if let Some(url) = &serve.base_url {
            core.set_provider_endpoint(&me, provider, Some(url)).await?;
        }
    }
    for (provider, var) in KEY_VARS {
        if let Some(value) = env(var) {
            core.set_provider_key(&me, provider, &SecretString::new(value))
                .await?;
        }
    }
    let listener = tauri_plugin_shannon::http::Listener::start(
        core.clone(),
        tauri_plugin_shannon::http::ListenerOptions {
            port: serve.port,
            token: serve.token,
            ..Default::default()
        },
    )
    .await?;
    let status = listener.status();
    println!("Shannon listening on {}", status.url.unwrap_or_default());
    println!("token file {}", status.token_file.unwrap_or_default());
    println!(
        "provider {}",
        serve.provider.as_deref().unwrap_or("demo (offline)")
    );
    let _ = std::io::stdout().flush();
    let signal = stop_signal().await;
    // An orderly stop within 5 s: the listener takes no new request while running tasks stop at
    // their next checkpoint (resumable at the next start) and what they emitted is stored.
    println!("{signal}: stopping");
    tokio::join!(
        listener.stop_within(Duration::from_secs(2)),
        core.shutdown(Duration::from_secs(4)),
    );
    Ok(())
}

/// Waits for Ctrl-C or, on Unix, SIGTERM (what service managers and `kill` send).
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "terminated",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupted"
}
