//! A core on a fresh data dir whose provider points at a fake OpenAI/Anthropic server, as the engine
//! tests and the DAG bench start it. Include it after `support/fake_provider.rs`:
//! `#[path = "support/rig.rs"] mod rig;` (the fake as `crate::fake_provider`).
#![allow(dead_code)]

use serde_json::json;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::SecretString;
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
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let fake = FakeProvider::start().await;
    let me = Caller::embedded();
    core.set_provider_key(&me, provider, &SecretString::new(KEY))
        .await
        .unwrap();
    core.set_setting(
        &me,
        &format!("provider.{provider}.base_url"),
        &json!(fake.base_url()).to_string(),
    )
    .await
    .unwrap();
    Rig {
        core,
        fake,
        me,
        _dir: dir,
    }
}
