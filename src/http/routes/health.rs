//! Liveness and readiness; the desktop frontend finds the server by `/ready` on its port range.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::App;
use crate::core::time;
use crate::http::dto::{Health, HealthChecks, Readiness, ReadinessChecks};

pub(super) async fn health() -> Json<Health> {
    Json(Health {
        status: "healthy".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        time: time::now(),
        checks: HealthChecks {
            gateway: "ok".into(),
        },
    })
}

/// Ready when the database answers; the event store's state is reported beside it.
pub(super) async fn readiness(State(app): App) -> (StatusCode, Json<Readiness>) {
    let ok = app.core.store().ping().await.is_ok();
    let (status, word, check) = if ok {
        (StatusCode::OK, "ready", "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready", "failed")
    };
    let backlog = app.core.event_backlog();
    let body = Readiness {
        status: word.into(),
        time: time::now(),
        checks: ReadinessChecks {
            database: check.into(),
            event_store: if backlog.failing { "failing" } else { "ok" }.into(),
            events_waiting: backlog.events as u64,
        },
    };
    (status, Json(body))
}
