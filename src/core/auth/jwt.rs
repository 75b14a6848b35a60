//! HS256 access (1 h) and refresh (30 d) tokens.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::core::error::{Result, ShannonError};
use crate::core::time;

pub const ACCESS_TTL_SECS: i64 = 3600;
pub const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;
pub(crate) const ISSUER: &str = "shannon-embedded";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant_id: String,
    pub typ: TokenType,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// Signing and verification keys derived from the sealed secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(***)")
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn issue(
        &self,
        user_id: &str,
        tenant_id: &str,
        typ: TokenType,
    ) -> Result<(String, Claims)> {
        let iat = time::unix_now();
        let ttl = match typ {
            TokenType::Access => ACCESS_TTL_SECS,
            TokenType::Refresh => REFRESH_TTL_SECS,
        };
        let claims = Claims {
            sub: user_id.to_string(),
            tenant_id: tenant_id.to_string(),
            typ,
            jti: uuid::Uuid::new_v4().to_string(),
            iat,
            exp: iat + ttl,
            iss: ISSUER.to_string(),
        };
        self.sign(&claims).map(|t| (t, claims))
    }

    /// Signs arbitrary claims (tests use it to forge expired tokens with the real key).
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| ShannonError::Internal(format!("cannot sign token: {e}")))
    }

    /// Verifies signature (HS256 only: `none` and every other algorithm are refused), issuer, expiry
    /// (no leeway) and token type.
    pub fn verify(&self, token: &str, typ: TokenType) -> Result<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = decode::<Claims>(token, &self.decoding, &v).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => ShannonError::TokenExpired,
            _ => ShannonError::InvalidToken,
        })?;
        if data.claims.typ != typ {
            return Err(ShannonError::InvalidToken);
        }
        Ok(data.claims)
    }
}

/// A token looks like a JWT when it has three dot-separated parts.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}
