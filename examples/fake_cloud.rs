//! Serves the fake Shannon cloud (tests/support/fake_cloud) on a port, for the Python SDK
//! cross-check and the e2e. Faults, scripts, the emission log and a stop/restart are driven over
//! HTTP through `/__fake/…` (see tests/support/fake_cloud/faults.rs).
//!
//! cargo run --example fake_cloud -- [--port N] [--api-key K]... [--no-auth] [--deltas N]
//!     [--answer TEXT] [--event-delay-ms N] [--ping-secs N] [--ring N] [--rate-limit N]
//!     [--linger-ms N] [--jwt-ttl-secs N]

#[path = "../tests/support/fake_cloud/mod.rs"]
mod fake_cloud;

use std::time::Duration;

use fake_cloud::{FakeConfig, Script};

fn main() {
    let mut cfg = FakeConfig::default();
    let (mut answer, mut deltas, mut delay) =
        ("Hello from the fake Shannon cloud.".to_string(), 5, 20);
    let mut keys = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--no-auth" {
            cfg.auth_enabled = false;
            continue;
        }
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let num = || {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number")))
        };
        match flag.as_str() {
            "--port" => cfg.port = num() as u16,
            "--api-key" => keys.push(value.clone()),
            "--answer" => answer = value.clone(),
            "--deltas" => deltas = num() as usize,
            "--event-delay-ms" => delay = num(),
            "--ping-secs" => cfg.ping_interval = Duration::from_secs(num().max(1)),
            "--ring" => cfg.ring_capacity = num() as usize,
            "--rate-limit" => cfg.rate_limit = num() as u32,
            "--linger-ms" => cfg.linger_after_end = Duration::from_millis(num()),
            "--jwt-ttl-secs" => cfg.access_ttl = Duration::from_secs(num()),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if !keys.is_empty() {
        cfg.api_keys = keys;
    }
    cfg.script = Script::answer(&answer, deltas, Duration::from_millis(delay));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let cloud = fake_cloud::start(cfg).await;
        println!("Fake Shannon cloud listening on {}", cloud.url());
        let _ = tokio::signal::ctrl_c().await;
        cloud.stop().await;
    });
}

fn usage(problem: &str) -> ! {
    eprintln!("fake_cloud: {problem}");
    std::process::exit(2)
}
