//! No secret reaches `Debug`/`Display` output or tracing output, at any level.

#[path = "support/log_capture.rs"]
mod log_capture;

use log_capture::Captured;
use tauri_plugin_shannon::core::auth::api_keys::CreateApiKeyRequest;
use tauri_plugin_shannon::core::auth::{Caller, LoginRequest, RegisterRequest};
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::{Core, CoreConfig};

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_reach_debug_display_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path().to_path_buf()))
        .await
        .unwrap();
    let me = Caller::embedded();
    let provider_key = "sk-ant-api03-REDACTION-CANARY-abcdef123456";
    let password = "password-canary-91827";
    let mut debug = Vec::new();
    let mut secrets = vec![provider_key.to_string(), password.to_string()];

    let key = SecretString::new(provider_key);
    debug.push(format!("{key:?}"));
    let info = core.set_provider_key(&me, "anthropic", &key).await.unwrap();
    debug.push(format!("{info:?}"));
    let status = core.provider_status(&me).await.unwrap();
    debug.push(format!("{status:?}"));
    // A rejected key is not echoed in the error either.
    let err = core
        .set_provider_key(
            &me,
            "anthropic",
            &SecretString::new(format!("{provider_key}\u{7}")),
        )
        .await
        .unwrap_err();
    debug.push(format!("{err:?} {err}"));

    let register = RegisterRequest {
        email: "r@example.com".into(),
        username: None,
        password: SecretString::new(password),
        full_name: None,
    };
    debug.push(format!("{register:?}"));
    let auth = core.register(register).await.unwrap();
    secrets.push(auth.access_token.clone());
    secrets.push(auth.refresh_token.clone());
    debug.push(format!("{auth:?}"));
    let login = LoginRequest {
        email: "r@example.com".into(),
        password: SecretString::new(password),
    };
    debug.push(format!("{login:?}"));
    let wrong = core
        .login(LoginRequest {
            email: "r@example.com".into(),
            password: SecretString::new("wrong-password-canary"),
        })
        .await
        .unwrap_err();
    debug.push(format!("{wrong:?} {wrong}"));
    let login = core.login(login).await.unwrap();
    secrets.push(login.refresh_token.clone());
    let pair = core
        .refresh_token(&SecretString::new(login.refresh_token.clone()))
        .await
        .unwrap();
    secrets.push(pair.access_token.clone());
    secrets.push(pair.refresh_token.clone());
    debug.push(format!("{pair:?}"));
    let reuse = core
        .refresh_token(&SecretString::new(login.refresh_token.clone()))
        .await
        .unwrap_err();
    debug.push(format!("{reuse:?} {reuse}"));

    let created = core
        .create_api_key(
            &me,
            CreateApiKeyRequest {
                name: "ci".into(),
                description: None,
            },
        )
        .await
        .unwrap();
    secrets.push(created.api_key.clone());
    debug.push(format!("{created:?}"));
    let caller = core.authenticate(&created.api_key).await.unwrap();
    debug.push(format!("{caller:?}"));
    debug.push(format!("{:?}", core.list_api_keys(&me).await.unwrap()));
    core.rotate_master_key().await.unwrap();
    debug.push(format!("{core:?}"));
    let master = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    secrets.push(master.trim().to_string());

    let logs = logs.text();
    assert!(
        logs.contains("stored a provider API key"),
        "tracing captured: {logs}"
    );
    for secret in &secrets {
        for text in debug.iter().chain(std::iter::once(&logs)) {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into: {text}"
            );
        }
    }
}
