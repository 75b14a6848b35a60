//! The cloud's routes (see docs/upstream.md#routes-and-errors) plus the embedded-only settings
//! routes. [`table`] lists every path once, with its access, handlers and OpenAPI operations; the
//! router, the document and the auth rule are all derived from it. Handlers parse, call the core
//! once and map the result.

mod auth;
mod catalog;
mod files;
mod health;
mod hitl;
pub(super) mod mcp;
mod metrics;
pub(super) mod openai;
mod schedules;
mod sessions;
mod settings;
mod streams;
mod table;
mod tasks;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodFilter, MethodRouter};
use specta_openapi::{Method, Operation};

use super::extract::ApiQuery;
use super::{ApiError, AppState, MAX_BODY_BYTES, layers, openapi};

/// The door's state, as handlers take it.
type App = State<Arc<AppState>>;
/// A query string; each handler reads and validates the keys it knows.
type Params = ApiQuery<HashMap<String, String>>;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No credentials: health, the OpenAPI document, sign-in.
    Public,
    /// Credentials in a header.
    Authed,
    /// Credentials in a header or the query: EventSource and WebSocket clients cannot set headers.
    Stream,
}

/// Completes a route's operation (summary, parameters, bodies, responses).
type Doc = fn(Operation) -> Operation;

/// One path: its access, and per method a handler with its OpenAPI operation.
struct Route {
    path: &'static str,
    access: Access,
    tag: &'static str,
    methods: MethodRouter<Arc<AppState>>,
    operations: Vec<(Method, Operation)>,
}

impl Route {
    fn new(access: Access, tag: &'static str, path: &'static str) -> Self {
        Self {
            path,
            access,
            tag,
            methods: MethodRouter::new(),
            operations: Vec::new(),
        }
    }

    fn public(tag: &'static str, path: &'static str) -> Self {
        Self::new(Access::Public, tag, path)
    }

    fn authed(tag: &'static str, path: &'static str) -> Self {
        Self::new(Access::Authed, tag, path)
    }

    fn stream(tag: &'static str, path: &'static str) -> Self {
        Self::new(Access::Stream, tag, path)
    }

    fn get<H: Handler<T, Arc<AppState>>, T: 'static>(self, h: H, doc: Doc) -> Self {
        self.on(Method::Get, h, doc)
    }

    fn post<H: Handler<T, Arc<AppState>>, T: 'static>(self, h: H, doc: Doc) -> Self {
        self.on(Method::Post, h, doc)
    }

    fn put<H: Handler<T, Arc<AppState>>, T: 'static>(self, h: H, doc: Doc) -> Self {
        self.on(Method::Put, h, doc)
    }

    fn patch<H: Handler<T, Arc<AppState>>, T: 'static>(self, h: H, doc: Doc) -> Self {
        self.on(Method::Patch, h, doc)
    }

    fn delete<H: Handler<T, Arc<AppState>>, T: 'static>(self, h: H, doc: Doc) -> Self {
        self.on(Method::Delete, h, doc)
    }

    fn on<H: Handler<T, Arc<AppState>>, T: 'static>(
        mut self,
        method: Method,
        handler: H,
        doc: Doc,
    ) -> Self {
        self.methods = self.methods.on(filter(method), handler);
        let mut op = Operation::new(method, self.path).tag(self.tag);
        if self.access != Access::Public {
            op = openapi::requires_credentials(op);
        }
        self.operations.push((method, doc(op)));
        self
    }
}

fn filter(method: Method) -> MethodFilter {
    match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
        Method::Head => MethodFilter::HEAD,
        Method::Options => MethodFilter::OPTIONS,
        Method::Trace => MethodFilter::TRACE,
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
    }
}

/// A path no route serves.
async fn no_route() -> ApiError {
    ApiError::coded(StatusCode::NOT_FOUND, "route_not_found", "Not found")
}

/// A method the path does not serve (axum still adds the `Allow` header).
async fn no_method() -> ApiError {
    ApiError::coded(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
    )
}

/// The routes inside the door's layers. A request meets the layers in the order listed (axum runs
/// the last `.layer` first): JSON errors, Host, Origin, announced body size, CORS, then
/// authentication.
pub(super) fn router(state: Arc<AppState>) -> Router {
    let (mut public, mut authed, mut streams) = (Router::new(), Router::new(), Router::new());
    for route in table::table() {
        let group = match route.access {
            Access::Public => &mut public,
            Access::Authed => &mut authed,
            Access::Stream => &mut streams,
        };
        *group = std::mem::take(group).route(route.path, route.methods);
    }
    // The 405 of each group is inside its auth layer, and unknown paths answer like protected
    // routes: 401 before 404 or 405, except on public paths.
    let public = public.method_not_allowed_fallback(no_method);
    // MCP over streamable HTTP, behind the same token as every protected route.
    let mcp = mcp::service(state.core.clone(), state.shutdown.clone());
    let authed = authed
        .nest_service("/mcp", mcp)
        .method_not_allowed_fallback(no_method)
        .fallback(no_route)
        .layer(from_fn_with_state(
            state.clone(),
            layers::require_credentials,
        ));
    let streams = streams
        .method_not_allowed_fallback(no_method)
        .layer(from_fn_with_state(
            state.clone(),
            layers::require_credentials_or_query_token,
        ));
    public
        .merge(authed)
        .merge(streams)
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(layers::cors))
        .layer(from_fn(layers::refuse_announced_oversize))
        .layer(from_fn_with_state(state.clone(), layers::origin_allowlist))
        .layer(from_fn_with_state(state, layers::host_allowlist))
        .layer(from_fn(layers::json_errors))
}

/// Every operation of the table, for `/openapi.json`.
pub(super) fn operations() -> Vec<Operation> {
    table::table()
        .into_iter()
        .flat_map(|r| r.operations.into_iter().map(|(_, op)| op))
        .collect()
}

/// Every method and path the listener routes, e.g. `("GET", "/api/v1/tasks/{id}")`.
pub fn route_paths() -> Vec<(&'static str, &'static str)> {
    table::table()
        .into_iter()
        .flat_map(|r| {
            let path = r.path;
            r.operations
                .into_iter()
                .map(move |(m, _)| (method_name(m), path))
        })
        .collect()
}

/// `limit`/`offset` as numbers within range, else 400 (as the cloud's validation middleware).
fn page(q: &HashMap<String, String>, default: u32, max: u32) -> Result<(u32, u32), ApiError> {
    let limit = match q.get("limit") {
        None => default,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| {
                ApiError::plain(
                    StatusCode::BAD_REQUEST,
                    &format!("limit must be between 1 and {max}"),
                )
            })?,
    };
    let offset = match q.get("offset") {
        None => 0,
        Some(v) => v.parse::<u32>().map_err(|_| {
            ApiError::plain(
                StatusCode::BAD_REQUEST,
                "offset must be a non-negative integer",
            )
        })?,
    };
    Ok((limit, offset))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    /// Each path is one table entry (so it is written once, with one access rule).
    #[test]
    fn every_path_is_listed_once() {
        let mut seen = HashSet::new();
        for route in super::table::table() {
            assert!(seen.insert(route.path), "{} is listed twice", route.path);
            assert!(!route.operations.is_empty(), "{} has no method", route.path);
        }
    }
}
