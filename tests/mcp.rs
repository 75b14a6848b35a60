//! MCP servers as tool sources, against the reference server nobody here wrote
//! (`@modelcontextprotocol/server-everything` from npm, installed by `npm ci`), over stdio and over
//! streamable HTTP: a task whose fake model calls its `echo` and `add` tools gets their results;
//! a blocked tool is never offered; the server process killed with SIGKILL is restarted and the
//! next call works; its tools are dangerous (they ask first) unless the configuration says not.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fake_provider::{Reply, Scripted};
use rig::{Rig, rig};
use serde_json::{Value, json};
use tauri_plugin_shannon::core::mcp::{McpServerConfig, McpServerState};

fn everything() -> PathBuf {
    let entry = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        entry.exists(),
        "{} is missing: run `npm ci` first (scripts/test.sh does)",
        entry.display()
    );
    entry
}

fn stdio_server(dangerous: bool) -> McpServerConfig {
    serde_json::from_value(json!({
        "name": "everything", "transport": "stdio", "command": "node",
        "args": [everything(), "stdio"], "block": ["printEnv"], "dangerous": dangerous,
    }))
    .unwrap()
}

fn call(id: &str, tool: &str, args: Value) -> Scripted {
    Scripted::Stream(Reply::text(["Using the server."]).tool_call(id, tool, [args.to_string()]))
}

/// The tool results the model was given in its last request.
fn tool_results(r: &Rig) -> Vec<String> {
    let last = r.fake.requests().last().unwrap().body.clone();
    last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The task's model got `echo`'s and `add`'s results.
fn assert_echo_and_add(results: &[String]) {
    assert!(
        results.iter().any(|t| t == "Echo: hello MCP"),
        "{results:?}"
    );
    let sum = "The sum of 2 and 40 is 42.";
    assert!(results.iter().any(|t| t.contains(sum)), "{results:?}");
}

async fn run_tools_task(r: &Rig, query: &str) -> Vec<String> {
    r.fake
        .push(call(
            "e1",
            "mcp__everything__echo",
            json!({"message": "hello MCP"}),
        ))
        .push(call("a1", "mcp__everything__add", json!({"a": 2, "b": 40})))
        .push(Scripted::Stream(Reply::text(["Done."])));
    let (id, _) = r.run_in("standard", query, json!({})).await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED", "{:?}", task.error);
    tool_results(r)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stdio_server_s_tools_run_in_a_task_and_a_killed_server_is_restarted() {
    let r = rig("openai").await;
    r.core.set_mcp_servers(vec![stdio_server(false)]).unwrap();
    assert_eq!(
        r.core.mcp_status()[0].state,
        McpServerState::NotStarted,
        "started lazily"
    );

    let results = run_tools_task(&r, "Echo and add, please").await;
    assert_echo_and_add(&results);
    let offered: Vec<String> = r.fake.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        offered.contains(&"mcp__everything__echo".to_string()),
        "{offered:?}"
    );
    assert!(
        !offered.iter().any(|t| t.contains("printEnv")),
        "a blocked tool is never offered: {offered:?}"
    );

    // SIGKILL the server mid-session: the next call starts it again and works.
    let status = r.core.mcp_status().remove(0);
    assert_eq!(status.state, McpServerState::Running);
    let pid = status.pid.expect("a child process");
    assert!(
        Command::new("kill")
            .arg("-9")
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success()
    );
    // No wait: the call finds the transport closed, restarts the server and tries again.
    let results = run_tools_task(&r, "Again, after the crash").await;
    assert_echo_and_add(&results);
    let after = r.core.mcp_status().remove(0);
    assert_eq!(after.restarts, 1, "{after:?}");
    assert_ne!(after.pid, Some(pid));

    // By default a server's tools are dangerous: the catalogue says so and a call asks first.
    r.core.set_mcp_servers(vec![stdio_server(true)]).unwrap();
    let echo = r
        .core
        .get_tool(&r.me, "mcp__everything__echo")
        .await
        .unwrap();
    assert!(echo.dangerous && echo.category == "mcp", "{echo:?}");
    r.fake.push(call(
        "e2",
        "mcp__everything__echo",
        json!({"message": "may I?"}),
    ));
    let id = r.submit_in("standard", "Ask first", json!({})).await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let asked = loop {
        let e = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .unwrap()
            .unwrap();
        if e.event_type == "APPROVAL_REQUESTED" {
            break e;
        }
    };
    assert_eq!(asked.payload.unwrap()["tool"], "mcp__everything__echo");
    r.core.cancel_task(&r.me, &id, None).await.unwrap();
    r.core.mcp().shutdown().await;
}

/// server-everything's streamable-HTTP transport on a free port, killed when dropped.
struct HttpServer(Child, u16);

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn http_server() -> HttpServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("node")
        .arg(everything())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says on stderr when it listens; the rest of its stderr is drained, so it never blocks.
    let stderr = child.stderr.take().unwrap();
    let (ready, listening) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut ready = Some(ready);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("listening on port")
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(true);
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(30), listening).await {
        Ok(Ok(true)) => HttpServer(child, port),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server-everything did not listen on {port}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamable_http_server_s_tools_run_in_a_task() {
    let server = http_server().await;
    let r = rig("openai").await;
    let config: McpServerConfig = serde_json::from_value(json!({
        "name": "everything", "transport": "http", "url": format!("http://127.0.0.1:{}/mcp", server.1),
        "headers": {"x-client": "shannon-test"}, "allow": ["echo", "add"], "dangerous": false,
    }))
    .unwrap();
    r.core.set_mcp_servers(vec![config]).unwrap();
    let results = run_tools_task(&r, "Echo and add over HTTP").await;
    assert_echo_and_add(&results);
    let status = r.core.mcp_status().remove(0);
    assert_eq!(
        (status.transport.as_str(), status.tools.len()),
        ("http", 2),
        "only the allowed tools: {status:?}"
    );
    r.core.mcp().shutdown().await;
}
