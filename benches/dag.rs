//! Orchestration cost per subtask: a `complex` task whose plan has 50 subtasks, against a
//! zero-latency fake provider, measured against the same 52 model calls (the plan, 50 agents, the
//! synthesis) made as plain `ProviderClient::stream_chat` calls, 5 at a time as the agents run, in
//! the same run. The difference is what the engine adds per subtask: events, journal, usage rows.
//!
//! `cargo bench --bench dag`

#[path = "../tests/support/fake_provider.rs"]
mod fake_provider;
#[path = "../tests/support/rig.rs"]
mod rig;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fake_provider::{Reply, Scripted};
use futures_util::{StreamExt, stream};
use rig::KEY;
use serde_json::json;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::llm::{
    ChatMessage, ChatRequest, ProviderClient, ProviderTarget, Role,
};
use tauri_plugin_shannon::core::settings::providers::ProviderProtocol;
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;
use tokio_util::sync::CancellationToken;

const SUBTASKS: usize = 50;

fn plan() -> Scripted {
    let subtasks: Vec<_> = (1..=SUBTASKS)
        .map(
            |i| json!({"id": format!("task-{i}"), "description": format!("Part {i} of the bench")}),
        )
        .collect();
    let plan = json!({"complexity_score": 0.8, "subtasks": subtasks}).to_string();
    Scripted::Stream(Reply::text([plan]))
}

fn bench_dag(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rig = rt.block_on(rig::rig("openai"));
    let (fake, core) = (&rig.fake, &rig.core);
    fake.set_fallback(Scripted::Stream(Reply::text(["a short answer"])));
    let target = ProviderTarget::new(
        "openai",
        ProviderProtocol::OpenaiCompatible,
        fake.base_url(),
        Some(SecretString::new(KEY)),
    );
    let client = ProviderClient::new(target).unwrap();
    let request = ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![ChatMessage::new(Role::User, "Part 1 of the bench")],
        tools: Vec::new(),
        temperature: None,
        max_tokens: None,
        json_mode: false,
    };

    let mut g = c.benchmark_group("per_subtask");
    g.throughput(Throughput::Elements(SUBTASKS as u64));
    g.sample_size(10);
    g.bench_function("baseline/plain_calls_5_at_a_time", |b| {
        b.iter(|| {
            rt.block_on(async {
                let cancel = CancellationToken::new();
                stream::iter(0..SUBTASKS + 2)
                    .map(|_| async {
                        let mut sink = |_: &str| {};
                        client
                            .stream_chat(&request, &mut sink, &cancel)
                            .await
                            .unwrap()
                    })
                    .buffer_unordered(5)
                    .collect::<Vec<_>>()
                    .await
            })
        })
    });
    g.bench_function("engine/complex_task_50_subtasks", |b| {
        b.iter(|| {
            rt.block_on(async {
                fake.route("planning assistant", plan());
                let me = Caller::embedded();
                let req: SubmitTaskRequest = serde_json::from_value(
                    json!({"query": "A bench of many parts", "mode": "complex", "provider_override": "openai"}),
                )
                .unwrap();
                let id = core.submit_task(&me, req, None).await.unwrap().task_id;
                let mut sub = core.subscribe_task(&me, &id, None, None).await.unwrap();
                while sub.next().await.is_some() {}
                let task = core.get_task(&me, &id).await.unwrap();
                assert_eq!(task.status, "TASK_STATUS_COMPLETED", "{:?}", task.error);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench_dag);
criterion_main!(benches);
