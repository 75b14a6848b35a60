//! The models the user's configured providers offer, by tier: the cloud gateway's
//! `GET /v1/llm-models` (its `config/models.yaml`). Here "configured" means ready now: a stored key
//! whose endpoint it was stored for, or a local provider that answers.

use serde::Serialize;

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::llm::models::model_for_tier;

/// The tiers of the cloud's `model_tier`.
pub const TIERS: [&str; 3] = ["small", "medium", "large"];

/// One model of a tier.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct LlmModel {
    pub id: String,
    pub provider: String,
    /// `small`, `medium` or `large`.
    pub tier: String,
    /// 1 = tried first within the tier: the default provider, then the catalogue's order.
    pub priority: u32,
}

/// `{models: [...]}`, as the cloud answers.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct LlmModels {
    pub models: Vec<LlmModel>,
}

impl Core {
    /// The models of every ready model provider, for one tier or all three.
    pub async fn llm_models(&self, caller: &Caller, tier: Option<&str>) -> Result<LlmModels> {
        let tiers: Vec<&str> = match tier.map(str::trim).filter(|t| !t.is_empty()) {
            None => TIERS.to_vec(),
            Some(t) => {
                let t = TIERS
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(t))
                    .ok_or_else(|| {
                        ShannonError::invalid("tier must be one of: small, medium, large")
                    })?;
                vec![*t]
            }
        };
        let default = self
            .engine()
            .defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .provider
            .clone();
        let mut ready: Vec<String> = self
            .provider_status(caller)
            .await?
            .into_iter()
            .filter(|s| s.ready && !s.web_search)
            .map(|s| s.provider)
            .collect();
        // The default provider first; the rest keep the catalogue's order.
        ready.sort_by_key(|p| *p != default);
        let mut models = Vec::new();
        for tier in tiers {
            for (i, provider) in ready.iter().enumerate() {
                models.push(LlmModel {
                    id: model_for_tier(provider, tier).to_string(),
                    provider: provider.clone(),
                    tier: tier.to_string(),
                    priority: i as u32 + 1,
                });
            }
        }
        Ok(LlmModels { models })
    }
}
