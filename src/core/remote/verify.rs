//! Verify: what a profile's server is and what it lets this credential do, found by probing with
//! short timeouts (its `/health` always says 0.1.0 and its `/openapi.json` is partial, so neither
//! tells). A slow or dead cloud costs at most [`PROBE_TIMEOUT`] per probe and never blocks a local
//! operation; reports are reused for [`REPORT_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ConnectionState;
use super::profiles::RemoteAuthKind;
use crate::core::Core;
use crate::core::error::Result;
use crate::core::time;

/// The longest one probe waits.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a report is reused.
pub const REPORT_TTL: Duration = Duration::from_secs(10);

/// Whether the server accepts the profile's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum RemoteAuthState {
    /// Accepted.
    Ok,
    /// The server has auth turned off: anyone reaching it shares one history.
    Disabled,
    /// Refused.
    Invalid,
    /// The profile needs a credential and none is stored.
    Missing,
    /// Not known (the server could not be reached).
    Unknown,
}

/// A rate window as the cloud reports it for this credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct RateWindow {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
}

/// What a verify found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct VerifyReport {
    pub profile_id: String,
    /// `host[:port]`.
    pub host: String,
    /// `/health` answered.
    pub reachable: bool,
    /// `/readiness` answered 200.
    pub ready: bool,
    pub auth: RemoteAuthState,
    /// The remote user (`/api/v1/auth/me`).
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// The account tier (`free`, …).
    pub tier: Option<String>,
    pub rate_limit_minute: Option<RateWindow>,
    pub rate_limit_hour: Option<RateWindow>,
    /// The round trip of `/health`.
    pub latency_ms: Option<u32>,
    /// Areas that answered: `tasks`, `sessions`, `schedules`, `skills`, `llm_models`.
    pub capabilities: Vec<String>,
    /// Models the cloud has configured (`/v1/llm-models`).
    pub models: Vec<String>,
    /// What went wrong, when something did: the error code and message.
    pub problem: Option<String>,
    /// RFC 3339.
    pub checked_at: String,
}

#[derive(Default)]
pub(crate) struct ReportCache(Mutex<HashMap<String, (Instant, VerifyReport)>>);

fn window(v: &Value, k: &str) -> Option<RateWindow> {
    let w = v.get("rate_limits")?.get(k)?;
    let n = |f: &str| w.get(f).and_then(Value::as_u64).map(|x| x as u32);
    Some(RateWindow {
        limit: n("limit"),
        remaining: n("remaining"),
    })
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

impl Core {
    /// Probes a profile's server: reachable, ready, auth, the user, tier and rate limits, latency,
    /// and which areas answer. Failures are part of the report, not an error (an unknown profile
    /// is `not_found`).
    pub async fn verify_remote_profile(&self, id: &str, fresh: bool) -> Result<VerifyReport> {
        self.require_remote_enabled()?;
        let row = self.profile_row(id).await?;
        if !fresh
            && let Some((at, r)) = self
                .remote()
                .reports
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .cloned()
            && at.elapsed() < REPORT_TTL
            && r.checked_at >= row.updated_at
        {
            return Ok(r);
        }
        let mut report = VerifyReport {
            profile_id: row.id.clone(),
            host: super::profiles::host_of(&row.base_url),
            reachable: false,
            ready: false,
            auth: RemoteAuthState::Unknown,
            user_id: None,
            username: None,
            tier: None,
            rate_limit_minute: None,
            rate_limit_hour: None,
            latency_ms: None,
            capabilities: Vec::new(),
            models: Vec::new(),
            problem: None,
            checked_at: time::now(),
        };
        let credential = self.open_credential(&row).await?;
        let has_credential = credential.is_some();
        let cloud = super::client::CloudClient::build(&row, credential)?;
        let timeout = PROBE_TIMEOUT.min(Duration::from_millis(row.request_timeout_ms.into()));
        match cloud.probe("/health", false, timeout).await {
            Ok((_, _, took)) => {
                report.reachable = true;
                report.latency_ms = Some(took.as_millis().min(u32::MAX as u128) as u32);
            }
            Err(e) => {
                report.problem = Some(format!("{}: {e}", e.code()));
                self.note_connection(&row.id, ConnectionState::Offline);
                return Ok(self.keep_report(report));
            }
        }
        report.ready = matches!(cloud.probe("/readiness", false, timeout).await, Ok((s, _, _)) if s.is_success());
        let me = match cloud.probe("/api/v1/auth/me", false, timeout).await {
            Ok((s, body, _)) if s.is_success() => {
                report.auth = RemoteAuthState::Disabled;
                Some(body)
            }
            Ok(_) if row.auth() == RemoteAuthKind::None || !has_credential => {
                report.auth = if row.auth() == RemoteAuthKind::None {
                    RemoteAuthState::Invalid
                } else {
                    RemoteAuthState::Missing
                };
                None
            }
            Ok(_) => match cloud.probe("/api/v1/auth/me", true, timeout).await {
                Ok((s, body, _)) if s.is_success() => {
                    report.auth = RemoteAuthState::Ok;
                    Some(body)
                }
                Ok((StatusCode::UNAUTHORIZED, _, _)) => {
                    // A bearer token may only need a refresh: one real request tries it.
                    match cloud
                        .json(self, reqwest::Method::GET, "/api/v1/auth/me", None, &[])
                        .await
                    {
                        Ok(Ok((v, _))) => {
                            report.auth = RemoteAuthState::Ok;
                            Some(v.to_string())
                        }
                        _ => {
                            report.auth = RemoteAuthState::Invalid;
                            None
                        }
                    }
                }
                Ok((s, _, _)) => {
                    report.problem = Some(format!("auth/me answered {}", s.as_u16()));
                    None
                }
                Err(e) => {
                    report.problem = Some(format!("{}: {e}", e.code()));
                    None
                }
            },
            Err(e) => {
                report.problem = Some(format!("{}: {e}", e.code()));
                None
            }
        };
        if let Some(v) = me.and_then(|b| serde_json::from_str::<Value>(&b).ok()) {
            report.user_id = text(&v, "user_id").or_else(|| text(&v, "id"));
            report.username = text(&v, "username");
            report.tier = text(&v, "tier");
            report.rate_limit_minute = window(&v, "minute");
            report.rate_limit_hour = window(&v, "hour");
        }
        let state = match report.auth {
            RemoteAuthState::Invalid | RemoteAuthState::Missing => ConnectionState::AuthFailed,
            _ => ConnectionState::Online,
        };
        self.note_connection(&row.id, state);
        if matches!(report.auth, RemoteAuthState::Ok | RemoteAuthState::Disabled) {
            let authed = report.auth == RemoteAuthState::Ok;
            for (cap, path) in [
                ("tasks", "/api/v1/tasks?limit=1"),
                ("sessions", "/api/v1/sessions?limit=1"),
                ("schedules", "/api/v1/schedules?limit=1"),
                ("skills", "/api/v1/skills"),
                ("llm_models", "/v1/llm-models"),
            ] {
                if let Ok((s, body, _)) = cloud.probe(path, authed, timeout).await
                    && s.is_success()
                {
                    report.capabilities.push(cap.into());
                    if cap == "llm_models"
                        && let Ok(v) = serde_json::from_str::<Value>(&body)
                    {
                        report.models = v
                            .get("models")
                            .and_then(Value::as_array)
                            .map(|m| m.iter().filter_map(|x| text(x, "id")).take(200).collect())
                            .unwrap_or_default();
                    }
                }
            }
        }
        Ok(self.keep_report(report))
    }

    fn keep_report(&self, report: VerifyReport) -> VerifyReport {
        self.remote()
            .reports
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(report.profile_id.clone(), (Instant::now(), report.clone()));
        report
    }
}
