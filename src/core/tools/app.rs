//! Tools of the embedding app: registered in Rust (through [`CoreConfig::tools`] or the plugin
//! builder's `tool`), offered to agents beside the built-ins under the same allow and block lists,
//! approvals, events and journal. A call runs on its own tokio task, within its timeout, and its
//! output is capped, so a slow, panicking or chatty handler costs the model an error text, never
//! the engine.
//!
//! [`CoreConfig::tools`]: crate::core::CoreConfig::tools

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{ToolOutcome, builtin_names};
use crate::core::error::{Result, ShannonError};
use crate::core::llm::ToolSpec;

/// What an app tool's handler returns: its output (a JSON string is given to the model as plain
/// text, any other value as JSON), or an error text the model reads and can recover from.
pub type AppToolResult = std::result::Result<Value, String>;

type BoxFuture = Pin<Box<dyn Future<Output = AppToolResult> + Send>>;
type Handler<C> = Arc<dyn Fn(Value, C) -> BoxFuture + Send + Sync>;

/// How long a call may run unless the tool says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest timeout a tool may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Characters of output the model gets from one call; the rest is cut with a note.
pub const MAX_OUTPUT_CHARS: usize = 100_000;

/// A tool the embedding app gives its agents: a name, a description and JSON Schema parameters
/// for the model, whether each call asks the user first, and an async handler.
///
/// The handler receives the call's arguments (always a JSON object) and a context `C`: the Tauri
/// plugin's builder takes `AppTool<AppHandle<R>>`, so the handler can read the app's managed
/// state; a headless [`Core`](crate::core::Core) takes `AppTool<()>`, whose handler captures what
/// it needs.
///
/// ```
/// # use tauri_plugin_shannon::AppTool;
/// # use serde_json::json;
/// let tool = AppTool::new("shout", "Returns the text in capitals", |args, ()| async move {
///     let text = args["text"].as_str().ok_or("missing \"text\"")?;
///     Ok(text.to_uppercase().into())
/// })
/// .parameters(json!({"type": "object", "properties": {"text": {"type": "string"}},
///                    "required": ["text"]}))
/// .dangerous(false);
/// assert_eq!(tool.name(), "shout");
/// ```
pub struct AppTool<C = ()> {
    spec: ToolSpec,
    dangerous: bool,
    timeout: Duration,
    handler: Handler<C>,
}

impl<C> Clone for AppTool<C> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec.clone(),
            dangerous: self.dangerous,
            timeout: self.timeout,
            handler: self.handler.clone(),
        }
    }
}

impl<C> std::fmt::Debug for AppTool<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppTool")
            .field("name", &self.spec.name)
            .field("dangerous", &self.dangerous)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<C: Send + 'static> AppTool<C> {
    /// A tool named `name` (1 to 64 characters of `A-Z a-z 0-9 _ -`, unlike any built-in tool's
    /// and not starting with `mcp__`), taking no parameters, not dangerous, with a 30 s timeout.
    pub fn new<F, Fut>(name: impl Into<String>, description: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Value, C) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = AppToolResult> + Send + 'static,
    {
        Self {
            spec: ToolSpec {
                name: name.into(),
                description: description.into(),
                parameters: json!({"type": "object", "properties": {}}),
            },
            dangerous: false,
            timeout: DEFAULT_TIMEOUT,
            handler: Arc::new(move |args, ctx| Box::pin(handler(args, ctx))),
        }
    }

    /// The JSON Schema of its arguments (an object schema: `{"type": "object", ...}`).
    pub fn parameters(mut self, schema: Value) -> Self {
        self.spec.parameters = schema;
        self
    }

    /// Whether each call asks the user first (APPROVAL_REQUESTED), unless the user let the tool
    /// through for the session or always, as for dangerous built-in tools.
    pub fn dangerous(mut self, dangerous: bool) -> Self {
        self.dangerous = dangerous;
        self
    }

    /// How long one call may run (at most 10 minutes); a call still running then is aborted and
    /// the model told so.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Its name, as the model calls it.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The same tool with its context given once, for the core (the plugin binds its AppHandle).
    pub(crate) fn bind(self, ctx: C) -> AppTool
    where
        C: Clone + Sync,
    {
        let handler = self.handler;
        AppTool {
            spec: self.spec,
            dangerous: self.dangerous,
            timeout: self.timeout,
            handler: Arc::new(move |args, ()| handler(args, ctx.clone())),
        }
    }
}

impl AppTool {
    pub(crate) fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    pub(crate) fn is_dangerous(&self) -> bool {
        self.dangerous
    }

    pub(crate) fn timeout_secs(&self) -> u32 {
        self.timeout.as_secs().max(1) as u32
    }

    /// Runs one call on its own task: a panic or the timeout becomes an error text, and dropping
    /// the returned future (the task was cancelled) aborts the call.
    pub(crate) async fn call(&self, args: Value) -> ToolOutcome {
        let handler = self.handler.clone();
        let mut task = AbortOnDrop(tokio::spawn(async move { handler(args, ()).await }));
        let name = &self.spec.name;
        let (success, output) = match tokio::time::timeout(self.timeout, &mut task.0).await {
            Ok(Ok(Ok(Value::String(text)))) => (true, text),
            Ok(Ok(Ok(value))) => (true, value.to_string()),
            Ok(Ok(Err(error))) => (false, error),
            Ok(Err(e)) if e.is_panic() => {
                tracing::error!(tool = %name, "an app tool's handler panicked");
                (
                    false,
                    format!("the tool {name} failed (its handler panicked)"),
                )
            }
            Ok(Err(e)) => (false, format!("the tool {name} failed: {e}")),
            Err(_) => (
                false,
                format!(
                    "the tool {name} did not finish within {} s",
                    self.timeout.as_secs_f32()
                ),
            ),
        };
        ToolOutcome {
            success,
            output: capped(output),
        }
    }
}

/// Aborts the call's task when the caller stops waiting (timeout, cancelled run).
struct AbortOnDrop(tokio::task::JoinHandle<AppToolResult>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn capped(output: String) -> String {
    match output.char_indices().nth(MAX_OUTPUT_CHARS) {
        None => output,
        Some((cut, _)) => {
            let more = output[cut..].chars().count();
            format!("{}\n[output cut: {more} more characters]", &output[..cut])
        }
    }
}

/// The app's tools, checked once when the core opens.
#[derive(Debug, Default)]
pub(crate) struct AppTools(Vec<AppTool>);

impl AppTools {
    pub fn new(tools: Vec<AppTool>) -> Result<Self> {
        let bad = |why: String| Err(ShannonError::Config(why));
        for (i, t) in tools.iter().enumerate() {
            let name = t.name();
            let usable = (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !usable {
                return bad(format!(
                    "app tool name {name:?} must be 1 to 64 characters of A-Z a-z 0-9 _ -"
                ));
            }
            if name.starts_with("mcp__") || builtin_names().any(|b| b == name) {
                return bad(format!(
                    "app tool {name} has the name of a built-in or MCP tool"
                ));
            }
            if tools[..i].iter().any(|o| o.name() == name) {
                return bad(format!("two app tools are named {name}"));
            }
            if t.spec.parameters.get("type") != Some(&json!("object")) {
                return bad(format!(
                    "app tool {name}: parameters must be a JSON Schema of type \"object\""
                ));
            }
            if t.timeout.is_zero() || t.timeout > MAX_TIMEOUT {
                return bad(format!(
                    "app tool {name}: the timeout must be above 0 and at most 10 minutes"
                ));
            }
        }
        Ok(Self(tools))
    }

    pub fn get(&self, name: &str) -> Option<&AppTool> {
        self.0.iter().find(|t| t.name() == name)
    }

    pub fn all(&self) -> &[AppTool] {
        &self.0
    }

    pub fn is_dangerous(&self, name: &str) -> bool {
        self.get(name).is_some_and(AppTool::is_dangerous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool<F, Fut>(f: F) -> AppTool
    where
        F: Fn(Value, ()) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = AppToolResult> + Send + 'static,
    {
        AppTool::new("t", "test", f)
    }

    #[tokio::test]
    async fn outputs_errors_panics_timeouts_and_caps() {
        let echo = tool(|args, ()| async move { Ok(args["x"].clone()) });
        let o = echo.call(json!({"x": "hi"})).await;
        assert_eq!((o.success, o.output.as_str()), (true, "hi"));
        let o = echo.call(json!({"x": {"n": 1}})).await;
        assert_eq!(o.output, r#"{"n":1}"#);

        let fails = tool(|_, ()| async { Err("no such note".to_string()) });
        let o = fails.call(json!({})).await;
        assert_eq!((o.success, o.output.as_str()), (false, "no such note"));

        let panics = tool(|_, ()| async { panic!("handler bug") });
        let o = panics.call(json!({})).await;
        assert!(!o.success && o.output.contains("panicked"), "{}", o.output);

        let slow = tool(|_, ()| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Value::Null)
        })
        .timeout(Duration::from_millis(50));
        let o = slow.call(json!({})).await;
        assert!(
            !o.success && o.output.contains("did not finish"),
            "{}",
            o.output
        );

        let chatty = tool(|_, ()| async { Ok("é".repeat(MAX_OUTPUT_CHARS + 5).into()) });
        let o = chatty.call(json!({})).await;
        assert!(o.output.ends_with("[output cut: 5 more characters]"));
        assert_eq!(
            o.output.chars().filter(|c| *c == 'é').count(),
            MAX_OUTPUT_CHARS
        );
    }

    #[test]
    fn names_schemas_and_timeouts_are_checked() {
        let ok = || tool(|_, ()| async { Ok(Value::Null) });
        assert!(AppTools::new(vec![ok()]).is_ok());
        assert!(AppTools::new(vec![ok(), ok()]).is_err());
        for name in ["", "has space", "calculator", "mcp__x__y", &"x".repeat(65)] {
            let t = AppTool::new(name, "d", |_, ()| async { Ok(Value::Null) });
            assert!(AppTools::new(vec![t]).is_err(), "{name:?}");
        }
        assert!(AppTools::new(vec![ok().parameters(json!({"type": "string"}))]).is_err());
        assert!(AppTools::new(vec![ok().timeout(Duration::ZERO)]).is_err());
        assert!(AppTools::new(vec![ok().timeout(Duration::from_secs(601))]).is_err());
    }
}
