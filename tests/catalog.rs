//! The catalogues over real HTTP on 127.0.0.1: skills (built in and the user's, versions, files
//! that do not read, a skill applied to a task with its tools enforced), agents (the input checked
//! against its schema, the task that runs the tool without a model), tools (listed, described, run
//! directly; a dangerous one refused until allowed), a task's timeline, and `/v1/models/{id}` and
//! `/v1/completions` against the fake provider.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use fake_provider::{Reply, Scripted};
use reqwest::StatusCode;
use rig::{Rig, rig};
use serde_json::{Value, json};

const TOKEN: &str = "catalog-token-0123456789abcdef0123456789";

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn at(listener: &tauri_plugin_shannon::http::Listener) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            base: format!("http://{}", listener.addr()),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

const MINE_V1: &str = "---\nname: trip-planner\nversion: 1.0.0\ncategory: travel\ndescription: Plans trips.\nrequires_tools: [calculator]\nbudget_max: 4000\n---\nYou plan trips for ${traveller}. Use the calculator for every sum.\n";

#[tokio::test(flavor = "multi_thread")]
async fn skills_are_listed_versioned_validated_and_enforced() {
    let r = rig("openai").await;
    let listener = r.listen(TOKEN).await;
    let api = Api::at(&listener);
    // A user file that does not read sits beside the built-in skills.
    let dir = r.core.skills_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("broken.md"),
        "---\nname: broken\nrequires_tools: calculator\n---\nbody\n",
    )
    .unwrap();
    let (status, list) = api.get("/api/v1/skills").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"code-review") && names.contains(&"math-tutor"),
        "{names:?}"
    );
    let error = &list["errors"][0];
    assert_eq!(error["file"], "broken.md");
    assert!(
        error["error"].as_str().unwrap().contains("requires_tools"),
        "{error}"
    );

    // Saving: a broken file is refused with its field named; two versions are kept.
    let bad = api
        .post(
            "/api/v1/skills",
            json!({"content": "---\nname: x\nbudget_max: lots\n---\nbody"}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(text.contains("budget_max"), "{text}");
    assert_eq!(
        api.post("/api/v1/skills", json!({"content": MINE_V1}))
            .await
            .status(),
        200
    );
    let v2 = MINE_V1.replace("version: 1.0.0", "version: 1.10.0");
    assert_eq!(
        api.post("/api/v1/skills", json!({"content": v2}))
            .await
            .status(),
        200
    );
    let (_, versions) = api.get("/api/v1/skills/trip-planner/versions").await;
    let listed: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["1.10.0", "1.0.0"]);
    let (_, detail) = api.get("/api/v1/skills/trip-planner").await;
    assert_eq!(detail["skill"]["version"], "1.10.0");
    assert!(
        detail["skill"]["content"]
            .as_str()
            .unwrap()
            .starts_with("You plan trips")
    );
    assert_eq!(detail["metadata"]["builtin"], false);
    let (_, travel) = api.get("/api/v1/skills?category=travel").await;
    assert_eq!(travel["count"], 1);
    assert_eq!(api.get("/api/v1/skills/no-such").await.0, 404);

    // Applied to a task: the prompt with its variable, and only the tools it requires.
    r.fake
        .push(Scripted::Stream(
            Reply::text(["Let me check the time."]).tool_call("t1", "clock", ["{}"]),
        ))
        .push(Scripted::Stream(Reply::text(["Two nights cost 240."])));
    let id = r
        .submit_body(json!({"query": "Two nights at 120?", "skill": "trip-planner", "provider_override": "openai",
                            "context": {"prompt_params": {"traveller": "Ada"}}}))
        .await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let events = Rig::rest(&mut sub).await;
    let first = &r.fake.requests()[0].body;
    assert!(
        first.to_string().contains("You plan trips for Ada."),
        "{first}"
    );
    let offered: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["calculator"]);
    let refused = events
        .iter()
        .find(|e| e.event_type == "TOOL_ERROR")
        .expect("the clock call refused");
    assert!(
        refused.message.as_deref().unwrap().contains("not allowed"),
        "{refused:?}"
    );
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.context.as_ref().unwrap()["skill_version"], "1.10.0");

    // Unknown, disabled and dangerous skills.
    let submit = |skill: &str| {
        let req = serde_json::from_value(json!({"query": "q", "skill": skill})).unwrap();
        let core = r.core.clone();
        let me = r.me.clone();
        async move { core.submit_task(&me, req, None).await }
    };
    assert_eq!(
        submit("no-such").await.unwrap_err().code(),
        "invalid_request"
    );
    let off = MINE_V1
        .replace("name: trip-planner", "name: off")
        .replace("---\nYou", "enabled: false\n---\nYou");
    r.core.save_skill(&r.me, &off).await.unwrap();
    assert!(
        submit("off")
            .await
            .unwrap_err()
            .to_string()
            .contains("disabled")
    );
    let risky = MINE_V1
        .replace("name: trip-planner", "name: risky")
        .replace("---\nYou", "dangerous: true\n---\nYou");
    r.core.save_skill(&r.me, &risky).await.unwrap();
    assert_eq!(
        submit("risky").await.unwrap_err().code(),
        "permission_denied"
    );
    r.core
        .set_setting(&r.me, "skills.allow_dangerous", "true")
        .await
        .unwrap();
    r.fake.push(Scripted::Stream(Reply::text(["ok"])));
    submit("risky").await.unwrap();

    // Removing: a user skill's versions go; a built-in stays.
    let gone = api
        .http
        .delete(format!(
            "{}/api/v1/skills/trip-planner?version=1.0.0",
            api.base
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(
        api.get("/api/v1/skills/trip-planner/versions").await.1["count"],
        1
    );
    let builtin = api
        .http
        .delete(format!("{}/api/v1/skills/code-review", api.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(builtin.status(), 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_and_tools_run_without_a_model_and_dangerous_tools_wait_for_leave() {
    let r = rig("openai").await;
    std::fs::write(
        r.core.data_dir().join("agents.yaml"),
        "agents:\n  adder:\n    name: Adder\n    description: Adds two numbers\n    category: math\n    tool: calculator\n    cost_per_call: 0.001\n    input_schema:\n      type: object\n      required: [expression]\n      properties:\n        expression: {type: string, pattern: '^[0-9+ ]+$'}\n",
    )
    .unwrap();
    let listener = r.listen(TOKEN).await;
    let api = Api::at(&listener);
    let (_, agents) = api.get("/api/v1/agents").await;
    let ids: Vec<&str> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"adder") && ids.contains(&"calculator"),
        "{ids:?}"
    );
    assert_eq!(
        api.get("/api/v1/agents/adder").await.1["cost_per_call"],
        0.001
    );
    assert_eq!(api.get("/api/v1/agents/nobody").await.0, 404);

    let bad = api
        .post(
            "/api/v1/agents/adder",
            json!({"input": {"expression": "rm -rf /"}}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("input/expression"));
    let started = api
        .post(
            "/api/v1/agents/adder",
            json!({"input": {"expression": "2 + 40"}, "session_id": "agent-session"}),
        )
        .await;
    assert_eq!(started.status(), 202);
    let workflow = started.headers()["x-workflow-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(started.headers()["x-session-id"], "agent-session");
    let body: Value = started.json().await.unwrap();
    assert_eq!(
        (body["agent_id"].as_str(), body["task_id"].as_str()),
        (Some("adder"), Some(workflow.as_str()))
    );
    let mut sub = r
        .core
        .subscribe_task(&r.me, &workflow, None, None)
        .await
        .unwrap();
    Rig::rest(&mut sub).await;
    let task = r.core.get_task(&r.me, &workflow).await.unwrap();
    assert_eq!(
        (task.status.as_str(), task.result.as_str()),
        ("TASK_STATUS_COMPLETED", "42")
    );
    assert_eq!(r.fake.request_count(), 0, "no model call");

    // The timeline of that task.
    let (status, timeline) = api.get(&format!("/api/v1/tasks/{workflow}/timeline")).await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"WF_STARTED"));
    assert_eq!(kinds.last(), Some(&"WF_COMPLETED"));
    assert!(
        kinds.contains(&"ACT_STARTED") && !kinds.contains(&"EVENT"),
        "{kinds:?}"
    );
    let (_, full) = api
        .get(&format!(
            "/api/v1/tasks/{workflow}/timeline?mode=full&include_payloads=true"
        ))
        .await;
    assert!(full["stats"]["total"].as_u64() > timeline["stats"]["total"].as_u64());
    assert_eq!(
        api.get(&format!("/api/v1/tasks/{workflow}/timeline?mode=loud"))
            .await
            .0,
        400
    );

    // Tools: the catalogue, one tool, a direct run; a dangerous tool only once allowed.
    let (_, tools) = api.get("/api/v1/tools").await;
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"calculator") && !names.contains(&"file_write"),
        "{names:?}"
    );
    let (_, calc) = api.get("/api/v1/tools/calculator").await;
    assert_eq!(
        (
            calc["category"].as_str(),
            calc["parameters"]["required"][0].as_str()
        ),
        (Some("math"), Some("expression"))
    );
    let ran: Value = api
        .post(
            "/api/v1/tools/calculator/execute",
            json!({"arguments": {"expression": "6 * 7"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (ran["success"].as_bool(), ran["text"].as_str()),
        (Some(true), Some("42"))
    );
    let failed: Value = api
        .post(
            "/api/v1/tools/calculator/execute",
            json!({"arguments": {"expression": "6 *"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["success"], false);
    assert!(failed["error"].as_str().is_some());
    let write =
        json!({"arguments": {"path": "a.txt", "content": "hi"}, "session_id": "agent-session"});
    assert_eq!(
        api.post("/api/v1/tools/file_write/execute", write.clone())
            .await
            .status(),
        403
    );
    let granted = api
        .post(
            "/api/v1/approvals/grants",
            json!({"tool": "file_write", "session_id": "agent-session"}),
        )
        .await;
    assert_eq!(granted.status(), 200);
    let wrote: Value = api
        .post("/api/v1/tools/file_write/execute", write)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(wrote["success"], true, "{wrote}");
    let file = r
        .core
        .read_session_file(&r.me, "agent-session", "a.txt")
        .await
        .unwrap();
    assert_eq!(file.content, "hi");
    assert_eq!(api.get("/api/v1/tools/teleport").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn models_by_id_and_text_completions() {
    let r = rig("openai").await;
    let listener = r.listen(TOKEN).await;
    let api = Api::at(&listener);
    let (_, list) = api.get("/v1/models").await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"shannon-chat") && ids.contains(&"shannon-quick-research"),
        "{ids:?}"
    );
    let one = api
        .http
        .get(format!("{}/v1/models/shannon-deep-research", api.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    assert!(
        one.headers()["x-model-description"]
            .to_str()
            .unwrap()
            .contains("Deep research")
    );
    let (status, missing) = api.get("/v1/models/gpt-nope").await;
    assert_eq!(
        (status.as_u16(), missing["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );

    r.fake
        .push(Scripted::Stream(Reply::text(["Hello ", "there."])));
    let done: Value = api
        .post(
            "/v1/completions",
            json!({"messages": [{"role": "user", "content": "Say hello"}], "provider": "openai"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (done["output_text"].as_str(), done["provider"].as_str()),
        (Some("Hello there."), Some("openai"))
    );
    assert!(done["usage"]["total_tokens"].as_u64().is_some());
    r.fake
        .push(Scripted::Stream(Reply::text(["Hi ", "again."])));
    let streamed = api
        .post("/v1/completions", json!({"messages": [{"role": "user", "content": "Again"}], "provider": "openai", "stream": true}))
        .await
        .text()
        .await
        .unwrap();
    let data: Vec<&str> = streamed
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{streamed}");
    let deltas: String = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["type"] == "content_delta")
        .map(|v| v["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(deltas, "Hi again.");
    let end: Value = serde_json::from_str(data[data.len() - 2]).unwrap();
    assert_eq!(
        (end["type"].as_str(), end["output_text"].as_str()),
        (Some("done"), Some("Hi again."))
    );
    let empty = api.post("/v1/completions", json!({"messages": []})).await;
    assert_eq!(empty.status(), 400);
}

/// `/v1/llm-models` lists the ready providers' models by tier, the default provider first; a
/// provider whose key went to another endpoint is not ready, so not listed.
#[tokio::test(flavor = "multi_thread")]
async fn llm_models_are_the_ready_providers_by_tier() {
    let r = rig("openai").await;
    r.core.set_engine_defaults("openai", None).unwrap();
    let listener = r.listen(TOKEN).await;
    let api = Api::at(&listener);
    let (status, all) = api.get("/v1/llm-models").await;
    assert_eq!(status, 200, "{all}");
    let models = all["models"].as_array().unwrap();
    let of = |tier: &str| -> Vec<(String, String, u64)> {
        models
            .iter()
            .filter(|m| m["tier"] == tier)
            .map(|m| {
                (
                    m["provider"].as_str().unwrap().to_string(),
                    m["id"].as_str().unwrap().to_string(),
                    m["priority"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let large = of("large");
    assert_eq!(large[0], ("openai".into(), "gpt-5".into(), 1), "{large:?}");
    assert!(
        large.iter().any(|(p, ..)| p == "demo"),
        "the demo needs no key"
    );
    assert!(
        !large.iter().any(|(p, ..)| p == "anthropic"),
        "no key, not ready"
    );
    assert_eq!(of("small")[0].1, "gpt-4.1-mini");
    let (status, small) = api.get("/v1/llm-models?tier=SMALL").await;
    assert_eq!(status, 200);
    assert!(
        small["models"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["tier"] == "small")
    );
    let (status, bad) = api.get("/v1/llm-models?tier=huge").await;
    assert_eq!(status, 400, "{bad}");
    // Pointed elsewhere, the key is not sent: OpenAI drops out of the list.
    r.core
        .set_provider_endpoint(&r.me, "openai", Some("http://127.0.0.1:9"))
        .await
        .unwrap();
    let (_, moved) = api.get("/v1/llm-models?tier=large").await;
    assert!(
        !moved["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["provider"] == "openai"),
        "{moved}"
    );
}
