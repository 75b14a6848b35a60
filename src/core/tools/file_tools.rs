//! The file tools (see docs/upstream.md#catalogues-workspaces-and-memory), confined to the task's
//! session workspace: `file_read`, `file_write`, `file_edit`, `file_list`, `file_search`,
//! `file_delete`. Writes, edits and deletes are in the approval policy's dangerous list by default,
//! so an agent asks before it changes a file.

use serde_json::{Value, json};

use crate::core::files::{MAX_FILE_BYTES, Workspace};
use crate::core::llm::ToolSpec;
use crate::core::tools::ToolOutcome;

type FileFn = fn(&Workspace, &Value) -> ToolOutcome;
/// Name, description, parameters (JSON Schema), run.
type FileTool = (&'static str, &'static str, fn() -> Value, FileFn);

pub(crate) const FILE_TOOLS: &[FileTool] = &[
    (
        "file_read",
        "Reads a text file of the session's workspace.",
        path_only,
        read,
    ),
    (
        "file_write",
        "Writes (creates or replaces) a text file in the session's workspace.",
        path_content,
        write,
    ),
    (
        "file_edit",
        "Replaces one exact occurrence of old_text with new_text in a workspace file.",
        edit_params,
        edit,
    ),
    (
        "file_list",
        "Lists a directory of the session's workspace (default: its top level).",
        path_optional,
        list,
    ),
    (
        "file_search",
        "Finds workspace files whose name or lines contain the query.",
        search_params,
        search,
    ),
    (
        "file_delete",
        "Deletes a file or directory of the session's workspace.",
        path_only,
        delete,
    ),
];

pub(crate) fn spec(name: &str) -> Option<ToolSpec> {
    FILE_TOOLS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(n, d, params, _)| ToolSpec {
            name: n.to_string(),
            description: d.to_string(),
            parameters: params(),
        })
}

pub(crate) fn run(name: &str, ws: &Workspace, args: &Value) -> Option<ToolOutcome> {
    FILE_TOOLS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(.., f)| f(ws, args))
}

fn ok(output: impl Into<String>) -> ToolOutcome {
    ToolOutcome {
        success: true,
        output: output.into(),
    }
}

fn fail(output: impl Into<String>) -> ToolOutcome {
    ToolOutcome {
        success: false,
        output: output.into(),
    }
}

fn arg<'a>(args: &'a Value, k: &str) -> Option<&'a str> {
    args.get(k).and_then(Value::as_str)
}

fn read(ws: &Workspace, args: &Value) -> ToolOutcome {
    let Some(path) = arg(args, "path") else {
        return fail("missing string argument \"path\"");
    };
    match ws.read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) if text.len() > MAX_FILE_BYTES => {
                ok(text.chars().take(MAX_FILE_BYTES).collect::<String>())
            }
            Ok(text) => ok(text),
            Err(_) => fail(format!("{path} is not a text file")),
        },
        Err(e) => fail(format!("cannot read {path}: {e}")),
    }
}

fn write(ws: &Workspace, args: &Value) -> ToolOutcome {
    let (Some(path), Some(content)) = (arg(args, "path"), arg(args, "content")) else {
        return fail("missing string arguments \"path\" and \"content\"");
    };
    match ws.write(path, content.as_bytes()) {
        Ok(()) => ok(format!("wrote {path} ({} bytes)", content.len())),
        Err(e) => fail(format!("cannot write {path}: {e}")),
    }
}

fn edit(ws: &Workspace, args: &Value) -> ToolOutcome {
    let (Some(path), Some(old), Some(new)) = (
        arg(args, "path"),
        arg(args, "old_text"),
        arg(args, "new_text"),
    ) else {
        return fail("missing string arguments \"path\", \"old_text\" and \"new_text\"");
    };
    let text = match ws.read(path).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => return fail(format!("{path} is not a text file")),
        Err(e) => return fail(format!("cannot read {path}: {e}")),
    };
    match text.matches(old).count() {
        0 => fail(format!("old_text does not occur in {path}")),
        1 => match ws.write(path, text.replacen(old, new, 1).as_bytes()) {
            Ok(()) => ok(format!("edited {path}")),
            Err(e) => fail(format!("cannot write {path}: {e}")),
        },
        n => fail(format!(
            "old_text occurs {n} times in {path}; give more context"
        )),
    }
}

fn list(ws: &Workspace, args: &Value) -> ToolOutcome {
    let path = arg(args, "path").unwrap_or_default();
    match ws.list(path) {
        Ok(entries) => ok(serde_json::to_string(&entries).unwrap_or_default()),
        Err(e) => fail(format!("cannot list {path:?}: {e}")),
    }
}

fn search(ws: &Workspace, args: &Value) -> ToolOutcome {
    let Some(query) = arg(args, "query").filter(|q| !q.is_empty()) else {
        return fail("missing string argument \"query\"");
    };
    let needle = query.to_lowercase();
    let mut hits = Vec::new();
    for file in ws.walk().unwrap_or_default() {
        let rel = ws.relative_of(&file);
        if rel.to_lowercase().contains(&needle) {
            hits.push(json!({"path": rel}));
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.to_lowercase().contains(&needle))
            .take(20)
        {
            hits.push(json!({"path": rel, "line": n + 1, "text": line.chars().take(300).collect::<String>()}));
        }
        if hits.len() >= 200 {
            break;
        }
    }
    ok(Value::Array(hits).to_string())
}

fn delete(ws: &Workspace, args: &Value) -> ToolOutcome {
    let Some(path) = arg(args, "path") else {
        return fail("missing string argument \"path\"");
    };
    match ws.delete(path) {
        Ok(()) => ok(format!("deleted {path}")),
        Err(e) => fail(format!("cannot delete {path}: {e}")),
    }
}

fn path_schema() -> Value {
    json!({"type": "string", "description": "A path relative to the workspace, e.g. \"notes/plan.md\""})
}

fn path_only() -> Value {
    json!({"type": "object", "properties": {"path": path_schema()}, "required": ["path"]})
}

fn path_optional() -> Value {
    json!({"type": "object", "properties": {"path": path_schema()}})
}

fn path_content() -> Value {
    json!({"type": "object", "properties": {"path": path_schema(), "content": {"type": "string"}},
           "required": ["path", "content"]})
}

fn edit_params() -> Value {
    json!({"type": "object", "properties": {"path": path_schema(), "old_text": {"type": "string"},
           "new_text": {"type": "string"}}, "required": ["path", "old_text", "new_text"]})
}

fn search_params() -> Value {
    json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]})
}
