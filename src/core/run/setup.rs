//! What a run needs before its first model call: the provider client with the user's key and base
//! URL, the conversation it starts from (system prompt, the session's earlier turns, the query), and
//! its tools after the user's and the task's allow and block lists.

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::files::Workspace;
use crate::core::llm::{ChatMessage, ProviderClient, ProviderTarget, Role};
use crate::core::settings::providers;
use crate::core::store;
use crate::core::tasks::request::TaskPlan;
use crate::core::tools::ToolBox;
use crate::core::tools::web_fetch::FetchLimits;
use crate::core::tools::web_search::{SearchApi, SearchTarget};

/// Everything a run needs; built by submit or by recovery.
pub(crate) struct RunSpec {
    pub caller: Caller,
    /// The internal task id (`tasks.id`), which keys the journal and token usage.
    pub task_id: String,
    pub workflow_id: String,
    pub session_id: String,
    pub plan: TaskPlan,
    pub provider: String,
    pub model: String,
    pub fallback_note: Option<String>,
    /// Restarted after a crash: completed steps come from the journal.
    pub resuming: bool,
    pub start_paused: bool,
}

/// The client for the run's provider; a provider that needs a key and has none is a clear failure.
pub(crate) async fn provider_client(core: &Core, spec: &RunSpec) -> Result<ProviderClient> {
    provider_client_for(core, &spec.caller, &spec.provider).await
}

/// The client for one of the caller's providers, with their key and base URL.
pub(crate) async fn provider_client_for(
    core: &Core,
    caller: &Caller,
    provider: &str,
) -> Result<ProviderClient> {
    let provider = providers::lookup_model(provider)?;
    let api_key = core.provider_key(caller, provider.id).await?;
    if provider.requires_key && api_key.is_none() {
        // InvalidState keeps the message as it is: it becomes the task's error text.
        return Err(ShannonError::InvalidState(format!(
            "no API key is configured for {}; add one and submit again",
            provider.display_name
        )));
    }
    if api_key.is_some() {
        // Advisory (the keys page's "last used"): a failure here must not stop the task.
        if let Err(e) = core.mark_provider_key_used(caller, provider.id).await {
            tracing::debug!(error = %e, "could not note a provider key's use");
        }
    }
    let base_url = core
        .provider_endpoint(caller, provider)
        .await
        .unwrap_or_default();
    ProviderClient::new(ProviderTarget {
        provider: provider.id.to_string(),
        protocol: provider.protocol,
        base_url,
        api_key,
        retry: Default::default(),
        timeouts: Default::default(),
    })
    .map_err(|e| ShannonError::InvalidState(e.to_string()))
}

/// System prompt, the session's earlier completed turns (newest last, within the history window;
/// what the user told a swarm during a turn is part of that turn's request) and the query.
pub(crate) async fn initial_messages(core: &Core, spec: &RunSpec) -> Result<Vec<ChatMessage>> {
    let mut messages = Vec::new();
    if let Some(system) = &spec.plan.system_prompt {
        messages.push(ChatMessage::new(Role::System, system.clone()));
    }
    let (session, wf, window) = (
        spec.session_id.clone(),
        spec.workflow_id.clone(),
        spec.plan.history_window as usize,
    );
    let history: Vec<(String, String)> = core
        .store()
        .read(move |c| {
            store::task_reads::completed_turns(c, &session, &wf, window.div_ceil(2) as u32)
        })
        .await?;
    let mut turns: Vec<ChatMessage> = history
        .into_iter()
        .rev()
        .flat_map(|(q, a)| {
            [
                ChatMessage::new(Role::User, q),
                ChatMessage::new(Role::Assistant, a),
            ]
        })
        .collect();
    if turns.len() > window {
        turns.drain(..turns.len() - window);
    }
    messages.extend(turns);
    messages.push(ChatMessage::new(Role::User, spec.plan.query.clone()));
    Ok(messages)
}

/// The built-in tools minus the user's block list (`tools.block`) and the task's, limited to the
/// task's allow list, else the user's (`tools.allow`).
pub(crate) async fn toolbox(core: &Core, spec: &RunSpec) -> ToolBox {
    toolbox_for(
        core,
        &spec.caller,
        Some(&spec.session_id),
        spec.plan.tools_allow.clone(),
        &spec.plan.tools_block,
    )
    .await
}

/// The tools a caller may use, with the user's lists and these, the session's workspace (the file
/// tools need one), the user's memory folder, and web access as the user's settings allow.
pub(crate) async fn toolbox_for(
    core: &Core,
    caller: &Caller,
    session_id: Option<&str>,
    allow: Option<Vec<String>>,
    block: &[String],
) -> ToolBox {
    let list = |value: Option<String>| -> Vec<String> {
        value
            .and_then(|v| serde_json::from_str::<Vec<String>>(&v).ok())
            .unwrap_or_default()
    };
    let setting = |key: &'static str| async move {
        core.get_setting(caller, key).await.ok().map(|s| s.value)
    };
    let user_allow = setting("tools.allow").await;
    let mut blocked = list(setting("tools.block").await);
    blocked.extend(block.iter().cloned());
    let allowed = allow.or_else(|| user_allow.map(|a| list(Some(a))));
    let allow_private = setting("web_fetch.allow_private_network")
        .await
        .is_some_and(|v| v.trim() == "true");
    let tools = ToolBox::new(allowed.as_deref(), &blocked).with_web(FetchLimits {
        allow_private,
        ..FetchLimits::default()
    });
    let tools = match search_target(core, caller).await {
        Some(target) => tools.with_search(target),
        None => tools,
    };
    // The MCP servers start the first time their tools are wanted.
    let hub = core.mcp().clone();
    let tools = if hub.is_empty() {
        tools
    } else {
        let listed = hub.tools().await;
        tools.with_mcp(hub, listed)
    };
    let tools = tools.with_apps(core.app_tools().clone());
    let tools = match session_id.map(|id| Workspace::of_session(core.data_dir(), id)) {
        Some(Ok(ws)) => tools.with_workspace(ws),
        _ => tools,
    };
    match Workspace::of_user_memory(core.data_dir(), &caller.user_id) {
        Ok(memory) => tools.with_memory(memory),
        Err(_) => tools,
    }
}

/// The search API `web_search` uses: the one the setting `web_search.provider` names, else the
/// first set up (a stored key, or SearXNG's base URL) in the catalogue's order.
pub(crate) async fn search_target(core: &Core, caller: &Caller) -> Option<SearchTarget> {
    let chosen = core
        .get_setting(caller, "web_search.provider")
        .await
        .ok()
        .and_then(|s| serde_json::from_str::<String>(&s.value).ok());
    let candidates = providers::PROVIDERS
        .iter()
        .filter(|p| p.is_search())
        .filter(|p| {
            chosen
                .as_deref()
                .is_none_or(|c| c.eq_ignore_ascii_case(p.id))
        });
    for spec in candidates {
        let api = SearchApi::of(spec.id)?;
        let base_url = core.provider_endpoint(caller, spec).await;
        let key = match core.provider_key(caller, spec.id).await {
            Ok(key) => key,
            // The key stays unsent; a search call says why.
            Err(e @ ShannonError::KeyEndpointChanged(_)) => {
                return Some(SearchTarget::refused(api, e.to_string()));
            }
            Err(_) => None,
        };
        let Some(base_url) = base_url else { continue };
        if spec.requires_key && key.is_none() {
            continue;
        }
        return Some(SearchTarget::new(api, base_url, key));
    }
    None
}
