//! Headless example: runs the Shannon core without a window on the embedded defaults (SQLite in a
//! local data dir, the offline demo provider when no key is configured) and exercises the store,
//! settings and encrypted provider keys.
//!
//! ```sh
//! cargo run --example headless                      # data in ./target/shannon-headless
//! cargo run --example headless -- --data-dir /tmp/s # anywhere else
//! OPENAI_API_KEY=sk-... cargo run --example headless # store a real key (shown masked only)
//! ```

use std::path::PathBuf;

use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::store::SCHEMA_VERSION;
use tauri_plugin_shannon::{Core, CoreConfig, ShannonError};

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

fn parse_args() -> Result<PathBuf, String> {
    let mut args = std::env::args().skip(1);
    let mut data_dir = std::env::var_os("SHANNON_DATA_DIR").map(PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => {
                data_dir = Some(args.next().ok_or("--data-dir needs a path")?.into());
            }
            "-h" | "--help" => {
                println!("usage: headless [--data-dir DIR]   (or SHANNON_DATA_DIR)");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(data_dir.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/shannon-headless")
    }))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error [{}]: {e}", e.code());
        std::process::exit(1);
    }
}

async fn run() -> Result<(), ShannonError> {
    let data_dir = parse_args().map_err(ShannonError::Config)?;
    println!("Shannon embedded core (headless)");
    println!("  data dir     {}", data_dir.display());
    let core = Core::open(CoreConfig::new(data_dir.clone())).await?;
    println!(
        "  database     {} (schema v{}, WAL)",
        core.store().path().display(),
        *SCHEMA_VERSION
    );
    println!(
        "  master key   {} (mode 0600)",
        data_dir.join("master.key").display()
    );

    let me = Caller::embedded();
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
    let chosen = status
        .iter()
        .find(|p| p.ready && p.requires_key)
        .map(|p| format!("{} (configured key {})", p.provider, p.masked_key.as_deref().unwrap_or("")))
        .unwrap_or_else(|| {
            "demo: the OFFLINE DEMO provider (canned answers, no network), because no provider key is configured"
                .to_string()
        });
    println!("\nTasks would run on: {chosen}");
    println!("Run {runs} against this data dir; run again to see settings and keys persist.");
    Ok(())
}
