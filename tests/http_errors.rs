//! Every error the loopback listener sends is JSON with a stable code: real HTTP on 127.0.0.1
//! against `Listener::start`, with the malformed requests of the issue (405 on a known path, a
//! path segment that is not UTF-8, the WebSocket route without an upgrade, a chunked body over the
//! limit) and a seeded, deterministic sample of hostile requests across every route of
//! `route_paths()`, authenticated and not. No 5xx, and the server is alive at the end.

#[path = "support/lcg.rs"]
mod lcg;

#[path = "support/listener.rs"]
mod listener;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lcg::Lcg;
use serde_json::Value;
use tauri_plugin_shannon::http::{Listener, MAX_BODY_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "test-launch-token-0123456789abcdef0123456789";
const SEED: u64 = 0x5eed_4571;
/// Fuzzed requests per (path, method).
const SAMPLES: usize = 6;

/// Codes a client may match on: named after a status, the router's and extractors' own, and the
/// core's (`ShannonError::code`) and auth routes' (contract §1.2).
const KNOWN_CODES: &[&str] = &[
    // By status.
    "invalid_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "unsupported_media_type",
    "upgrade_required",
    "rate_limit_exceeded",
    "client_error",
    // Router and extractors.
    "route_not_found",
    "invalid_path",
    "invalid_query",
    "invalid_body",
    "websocket_upgrade_required",
    // Core and auth routes.
    "invalid_json",
    "unknown_provider",
    "invalid_credentials",
    "invalid_token",
    "token_expired",
    "invalid_refresh_token",
    "invalid_state",
    "provider_not_ready",
    "permission_denied",
    "email_exists",
    "api_key_required",
    // OpenAI-compatible routes, as the cloud's.
    "model_not_found",
];

const PUBLIC: &[&str] = &[
    "/health",
    "/readiness",
    "/ready",
    "/openapi.json",
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
];
const STREAMS: &[&str] = &["/api/v1/stream/sse", "/api/v1/stream/ws"];

/// Methods reqwest sends; the others go over raw TCP.
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE",
];
const ODD_METHODS: &[&str] = &["BREW", "PROPFIND", "M-SEARCH", "X-TRACE-LIKE"];

/// Paths no route serves.
const UNKNOWN_PATHS: &[&str] = &[
    "/",
    "/api/v1/nope",
    "/api/v2/tasks",
    "/v1/nope",
    "/api/v1/tasks/x/unknown",
    "/api/v1/tasks/",
    "/health/",
    "/%FF%FE",
    "/api/v1/..%2F..%2Fhealth",
];

const QUERIES: &[&str] = &[
    "limit=-1",
    "limit=abc",
    "limit=0",
    "limit=99999999999999999999",
    "limit=1&limit=2",
    "offset=-5",
    "offset=x",
    "page=-1&page_size=abc",
    "workflow_id=%FF%FE",
    "workflow_id=",
    "workflow_id=..%2F..%2Fetc",
    "workflow_id=task-x&last_event_id=abc",
    "types=%00&last_event_id=-1",
    "include_payload=maybe",
    "a=%FF%FE&%=%",
    "&&&==&",
    "status=%E2%80%AE",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/json; charset=latin1",
    "garbage/&&&",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Auth {
    None,
    Launch,
    BadBearer,
    BadApiKey,
    /// `?token=` with the launch token: credentials on stream routes only.
    QueryToken,
}

#[derive(Clone, Debug)]
struct Req {
    category: &'static str,
    method: String,
    path: String,
    query: Option<String>,
    auth: Auth,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Req {
    fn new(category: &'static str, method: &str, path: &str, auth: Auth) -> Self {
        Self {
            category,
            method: method.into(),
            path: path.into(),
            query: None,
            auth,
            headers: Vec::new(),
            body: None,
        }
    }

    fn target(&self) -> String {
        let mut q: Vec<String> = self.query.iter().cloned().collect();
        if self.auth == Auth::QueryToken {
            q.push(format!("token={TOKEN}"));
        }
        if q.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, q.join("&"))
        }
    }

    fn auth_headers(&self) -> Vec<(String, String)> {
        match self.auth {
            Auth::Launch => vec![("Authorization".into(), format!("Bearer {TOKEN}"))],
            Auth::BadBearer => vec![("Authorization".into(), "Bearer nope".into())],
            Auth::BadApiKey => vec![("X-API-Key".into(), "sk_garbage%%%".into())],
            Auth::None | Auth::QueryToken => vec![],
        }
    }

    fn authenticated(&self) -> bool {
        self.auth == Auth::Launch
            || (self.auth == Auth::QueryToken && STREAMS.contains(&self.path.as_str()))
    }

    /// reqwest sends standard methods; odd ones go over raw TCP.
    fn raw(&self) -> bool {
        !METHODS.contains(&self.method.as_str())
    }

    fn describe(&self) -> String {
        let target = self.target();
        let shown: String = target.chars().take(120).collect();
        format!(
            "[{}] {} {shown} auth={:?} body={:?}",
            self.category,
            self.method,
            self.auth,
            self.body
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned())
        )
    }
}

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

struct Server {
    listener: Listener,
    port: u16,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let (listener, dir) = listener::start(TOKEN).await;
    let port = listener.addr().port();
    Server {
        listener,
        port,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        _dir: dir,
    }
}

impl Server {
    async fn send(&self, req: &Req) -> Answer {
        if req.raw() {
            return self.send_raw(req).await;
        }
        let url = format!("http://127.0.0.1:{}{}", self.port, req.target());
        let mut b = self.http.request(
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap(),
            url,
        );
        for (k, v) in req.auth_headers().into_iter().chain(req.headers.clone()) {
            b = b.header(k, v);
        }
        if let Some(body) = &req.body {
            b = b.body(body.clone());
        }
        let resp = b
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", req.describe()));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().into(),
                )
            })
            .collect();
        // Successful answers may be streams (SSE): only error bodies are read.
        let body = if status >= 400 {
            resp.bytes().await.unwrap().to_vec()
        } else {
            Vec::new()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// One request over a fresh connection (`Connection: close`), read to the end.
    async fn send_raw(&self, req: &Req) -> Answer {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            req.method,
            req.target(),
            self.port
        );
        for (k, v) in req.auth_headers().into_iter().chain(req.headers.clone()) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let mut bytes = head.into_bytes();
        if let Some(body) = &req.body {
            bytes.extend(format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes());
            bytes.extend(body);
        } else {
            bytes.extend(b"\r\n");
        }
        let text = raw_exchange(self.port, &bytes).await;
        parse_response(&text, req.method == "HEAD")
            .unwrap_or_else(|| panic!("{}: no HTTP answer", req.describe()))
    }
}

/// Writes `bytes` and reads until the server closes.
async fn raw_exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let _ = conn.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the server neither answered nor closed: {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )
        });
    out
}

fn parse_response(raw: &[u8], head_only: bool) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let body = if head_only {
        Vec::new()
    } else if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || data.len() < eol + 2 + size {
            break;
        }
        out.extend(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}

/// What was seen, for the assertions and the summary.
#[derive(Default)]
struct Tally {
    requests: usize,
    errors: usize,
    categories: BTreeMap<&'static str, usize>,
    statuses: BTreeMap<u16, usize>,
    codes: BTreeMap<String, usize>,
}

/// The checks every answer passes; returns the error's code (None for a success).
fn check(req: &Req, a: &Answer, tally: &mut Tally) -> Option<String> {
    let what = req.describe();
    tally.requests += 1;
    *tally.categories.entry(req.category).or_default() += 1;
    *tally.statuses.entry(a.status).or_default() += 1;
    assert!(a.status < 500, "{what}: {}", a.status);
    // 401 comes before 404/405 on every path that is not public (preflights, a foreign Origin and
    // an announced oversized body are answered before authentication).
    let evil_origin = req
        .headers
        .iter()
        .any(|(k, v)| k == "Origin" && v.contains("evil"));
    if !req.authenticated()
        && !PUBLIC.contains(&req.path.as_str())
        && req.method != "OPTIONS"
        && !evil_origin
        && req.category != "oversize-announced"
    {
        assert_eq!(a.status, 401, "{what}");
    }
    if a.status < 400 {
        return None;
    }
    tally.errors += 1;
    let ct = a.headers.get("content-type").cloned().unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{what}: {ct}");
    if a.status == 405 {
        assert!(a.headers.contains_key("allow"), "{what}: 405 without Allow");
    }
    if a.status == 401 {
        assert!(a.headers.contains_key("www-authenticate"), "{what}");
    }
    if req.method == "HEAD" {
        // No body on HEAD; the content type says what a GET would get.
        return Some("(head)".into());
    }
    let body: Value = serde_json::from_slice(&a.body).unwrap_or_else(|e| {
        panic!(
            "{what}: {} not JSON ({e}): {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        )
    });
    // The cloud's shapes: {"error": text, "code"}, the auth routes' {"error": code, "message",
    // "code"}, OpenAI's {"error": {"message", "type", "code"}}.
    let code = body["code"]
        .as_str()
        .or_else(|| body["error"]["code"].as_str())
        .unwrap_or_else(|| panic!("{what}: no code in {body}"))
        .to_string();
    assert!(
        KNOWN_CODES.contains(&code.as_str()),
        "{what}: unknown code {code} in {body}"
    );
    let message = body["error"]
        .as_str()
        .or_else(|| body["error"]["message"].as_str());
    assert!(
        message.is_some_and(|m| !m.is_empty()),
        "{what}: no message in {body}"
    );
    *tally.codes.entry(code.clone()).or_default() += 1;
    Some(code)
}

fn pick<'a>(rng: &mut Lcg, items: &[&'a str]) -> &'a str {
    items[rng.next(items.len() as u64) as usize]
}

/// A path segment to put in place of `{id}`, `{key}` or `{provider}`.
fn hostile_segment(rng: &mut Lcg) -> String {
    match rng.next(14) {
        0 | 1 => "%FF%FE".into(),
        2 => "..%2F..%2Fetc%2Fpasswd".into(),
        3 => "a".repeat(1000 + rng.next(3000) as usize),
        4 => "%00".into(),
        5 => "%2e%2e".into(),
        6 => "x%20y".into(),
        7 => "%27%3B%20DROP%20TABLE%20tasks%3B--".into(),
        8 => "%C0%AF".into(),
        9 => "%".into(),
        10 => "%G1".into(),
        11 => "task-00000000-0000-0000-0000-000000000000-1700000000".into(),
        12 => "%F0%9F%99%82".into(),
        _ => "x".into(),
    }
}

fn malformed_body(rng: &mut Lcg) -> Vec<u8> {
    match rng.next(14) {
        0 => b"{not json".to_vec(),
        1 => b"{\"query\":".to_vec(),
        2 => b"[1,2".to_vec(),
        3 => b"\x00\x01\x02".to_vec(),
        4 => b"{\"query\":\"\xff\xfe\"}".to_vec(),
        5 => b"null".to_vec(),
        6 => b"[]".to_vec(),
        7 => b"123".to_vec(),
        8 => b"\"str\"".to_vec(),
        9 => b"{\"query\": 5, \"session_id\": []}".to_vec(),
        10 => b"{\"messages\": \"x\"}".to_vec(),
        11 => format!("{}{}", "[".repeat(300), "]".repeat(300)).into_bytes(),
        12 => b"query=x&session_id=y".to_vec(),
        _ => b"{}".to_vec(),
    }
}

fn random_auth(rng: &mut Lcg) -> Auth {
    match rng.next(20) {
        0..=9 => Auth::Launch,
        10..=12 => Auth::None,
        13..=15 => Auth::BadBearer,
        16..=17 => Auth::BadApiKey,
        _ => Auth::QueryToken,
    }
}

/// The seeded sample: every path of the table (and some unknown ones), every method, hostile path
/// segments, query strings, bodies, content types and credentials.
fn fuzzed() -> Vec<Req> {
    let mut rng = Lcg(SEED);
    let mut paths: Vec<&str> = tauri_plugin_shannon::http::route_paths()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    paths.dedup();
    paths.extend(UNKNOWN_PATHS);
    let mut out = Vec::new();
    for template in paths {
        for method in METHODS.iter().chain(ODD_METHODS) {
            for _ in 0..SAMPLES {
                let path = ["{id}", "{key}", "{provider}"].iter().fold(
                    template.to_string(),
                    |p, param| {
                        if p.contains(param) {
                            p.replace(param, &hostile_segment(&mut rng))
                        } else {
                            p
                        }
                    },
                );
                let mut req = Req::new("fuzz", method, &path, random_auth(&mut rng));
                if rng.next(2) == 0 {
                    req.query = Some(pick(&mut rng, QUERIES).into());
                }
                let wants_body = !matches!(*method, "GET" | "HEAD" | "OPTIONS");
                if wants_body || rng.next(8) == 0 {
                    req.body = Some(malformed_body(&mut rng));
                    if rng.next(5) != 0 {
                        let ct = pick(&mut rng, CONTENT_TYPES);
                        req.headers.push(("Content-Type".into(), ct.into()));
                    }
                }
                match rng.next(12) {
                    0 => req
                        .headers
                        .push(("Origin".into(), "http://localhost:1420".into())),
                    1 => req
                        .headers
                        .push(("Origin".into(), "https://evil.example".into())),
                    _ => {}
                }
                out.push(req);
            }
        }
    }
    out
}

/// The WebSocket route as a plain request, or with only part of the upgrade headers.
fn ws_without_upgrade() -> Vec<Req> {
    let partial: &[&[(&str, &str)]] = &[
        &[],
        &[("Connection", "upgrade")],
        &[("Upgrade", "websocket")],
        &[("Connection", "upgrade"), ("Upgrade", "websocket")],
        &[
            ("Connection", "upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "12"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        &[("Connection", "keep-alive"), ("Upgrade", "h2c")],
    ];
    let mut out = Vec::new();
    for headers in partial {
        for (auth, query) in [
            (Auth::Launch, Some("workflow_id=task-x")),
            (Auth::Launch, None),
            (Auth::QueryToken, Some("workflow_id=%FF%FE")),
            (Auth::None, Some("workflow_id=task-x")),
            (Auth::BadBearer, None),
        ] {
            for method in ["GET", "HEAD"] {
                let mut req = Req::new("ws-no-upgrade", method, "/api/v1/stream/ws", auth);
                req.query = query.map(str::to_string);
                req.headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                out.push(req);
            }
        }
    }
    out
}

/// Bodies over the limit that announce their length: refused before they are read.
async fn announced_oversize(s: &Server, tally: &mut Tally) {
    for (path, auth) in [
        ("/api/v1/tasks", Auth::Launch),
        ("/api/v1/auth/register", Auth::None),
        ("/v1/chat/completions", Auth::Launch),
        ("/api/v1/tasks", Auth::None),
    ] {
        let req = Req::new("oversize-announced", "POST", path, auth);
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            s.port,
            MAX_BODY_BYTES + 1
        );
        for (k, v) in req.auth_headers() {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n{\"query\":\"");
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
            .await
            .unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        // The answer comes without the body being sent; read until it is complete.
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let n = conn.read(&mut buf).await.unwrap_or(0);
                got.extend(&buf[..n]);
                if let Some(a) = parse_response(&got, false)
                    && a.headers
                        .get("content-length")
                        .and_then(|l| l.parse::<usize>().ok())
                        .is_some_and(|l| a.body.len() >= l)
                {
                    return a;
                }
                assert!(
                    n > 0,
                    "closed without an answer: {:?}",
                    String::from_utf8_lossy(&got)
                );
            }
        })
        .await
        .expect("no answer to an announced oversized body");
        assert_eq!(answer.status, 413, "{}", req.describe());
        assert_eq!(
            check(&req, &answer, tally).as_deref(),
            Some("payload_too_large")
        );
    }
}

/// Bodies over the limit sent chunked, without a length: found out while reading.
async fn chunked_oversize(s: &Server, tally: &mut Tally) {
    let sends = [
        "/api/v1/tasks",
        "/api/v1/tasks/x/pause",
        "/api/v1/auth/api-keys",
        "/v1/chat/completions",
    ]
    .map(|path| async move {
        let req = Req::new("oversize-chunked", "POST", path, Auth::Launch);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            s.port
        );
        let conn = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
            .await
            .unwrap();
        let (mut rd, mut wr) = conn.into_split();
        // Just over the limit, then stop (no last chunk): the server has read everything sent
        // when it answers, so it closes cleanly.
        let writer = tokio::spawn(async move {
            let chunk = vec![b' '; 1 << 20];
            let frame = [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk,
                b"\r\n".to_vec(),
            ]
            .concat();
            if wr.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..=(MAX_BODY_BYTES >> 20) {
                if wr.write_all(&frame).await.is_err() {
                    return;
                }
            }
            let _ = wr.flush().await;
            // Keep the write half open until the answer is read.
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(15), rd.read_to_end(&mut out))
            .await
            .expect("no answer to a chunked oversized body")
            .ok();
        writer.abort();
        (req, parse_response(&out, false))
    });
    for (req, answer) in futures_util::future::join_all(sends).await {
        let answer = answer.unwrap_or_else(|| panic!("{}: no answer", req.describe()));
        assert_eq!(answer.status, 413, "{}", req.describe());
        assert_eq!(
            check(&req, &answer, tally).as_deref(),
            Some("payload_too_large")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_error_is_json_with_a_stable_code() {
    let started = Instant::now();
    let s = server().await;
    let mut tally = Tally::default();

    // The cases, with their exact answers.
    let exact: Vec<(Req, u16, &str)> = vec![
        (
            Req::new("issue", "PUT", "/api/v1/auth/api-keys", Auth::Launch),
            405,
            "method_not_allowed",
        ),
        (
            Req::new("issue", "PUT", "/api/v1/auth/api-keys", Auth::None),
            401,
            "unauthorized",
        ),
        (
            Req::new("issue", "BREW", "/health", Auth::None),
            405,
            "method_not_allowed",
        ),
        (
            Req::new("issue", "GET", "/api/v1/tasks/%FF%FE", Auth::Launch),
            400,
            "invalid_request",
        ),
        (
            Req::new("issue", "GET", "/api/v1/sessions/%FF%FE", Auth::Launch),
            400,
            "invalid_path",
        ),
        (
            Req::new("issue", "GET", "/api/v1/stream/ws", Auth::Launch),
            400,
            "websocket_upgrade_required",
        ),
        (
            Req::new("issue", "GET", "/api/v1/nope", Auth::Launch),
            404,
            "route_not_found",
        ),
        (
            Req::new("issue", "GET", "/api/v1/tasks/task-x", Auth::Launch),
            404,
            "not_found",
        ),
    ];
    for (req, status, code) in &exact {
        let a = s.send(req).await;
        assert_eq!(a.status, *status, "{}", req.describe());
        assert_eq!(
            check(req, &a, &mut tally).as_deref(),
            Some(*code),
            "{}",
            req.describe()
        );
    }
    // A non-UTF-8 task id fails the id rule with the message of any malformed id; the 405 says
    // what the path allows.
    let req = Req::new("issue", "GET", "/api/v1/tasks/%FF%FE", Auth::Launch);
    let a = s.send(&req).await;
    check(&req, &a, &mut tally);
    let body: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(body["error"], "Invalid task ID format");
    let req = Req::new("issue", "PUT", "/api/v1/auth/api-keys", Auth::Launch);
    let a = s.send(&req).await;
    check(&req, &a, &mut tally);
    let allow = &a.headers["allow"];
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    announced_oversize(&s, &mut tally).await;
    chunked_oversize(&s, &mut tally).await;

    // The WebSocket route without (all of) its upgrade, and the fuzzed sample, 16 at a time.
    let mut reqs = ws_without_upgrade();
    reqs.extend(fuzzed());
    let answers: Vec<(Req, Answer)> = futures_util::stream::iter(reqs)
        .map(|req| {
            let s = &s;
            async move {
                let a = s.send(&req).await;
                (req, a)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut ws_codes = BTreeSet::new();
    for (req, a) in &answers {
        let code = check(req, a, &mut tally);
        if req.category == "ws-no-upgrade" && req.authenticated() && req.method == "GET" {
            ws_codes.insert((a.status, code));
        }
    }
    assert!(
        ws_codes
            .iter()
            .all(|(status, code)| *status == 400 && code.is_some()),
        "{ws_codes:?}"
    );

    // Requests hyper itself cannot parse (a raw non-ASCII byte in the target, a broken request
    // line) are answered by hyper before any router code, without a body: only survival is
    // checked for them.
    for raw in [
        &b"GET /api/v1/tasks/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"[..],
        b"GET\x01/ HTTP/1.1\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ] {
        let got = raw_exchange(s.port, raw).await;
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 400"),
            "{got:?}"
        );
    }

    // Still alive.
    let health = s
        .http
        .get(format!("http://127.0.0.1:{}/health", s.port))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "healthy");

    eprintln!(
        "{} requests ({} errors) in {:?}\n  categories {:?}\n  statuses {:?}\n  codes {:?}",
        tally.requests,
        tally.errors,
        started.elapsed(),
        tally.categories,
        tally.statuses,
        tally.codes
    );
    assert!(tally.requests > 3000, "{}", tally.requests);
    s.listener.stop().await;
}
