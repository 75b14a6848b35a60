//! Users, passwords (argon2id), JWT access/refresh tokens with rotation, and caller identity.

pub mod api_keys;
pub mod jwt;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use crate::core::crypto::SecretString;
use crate::core::error::{Result, ShannonError};
use crate::core::store::users::{NewUser, RefreshTokenState, UserRow};
use crate::core::store::{self, blocking};
use crate::core::{Core, time};
use jwt::TokenType;

/// The local user every call without credentials acts as.
pub const EMBEDDED_USER_ID: &str = "00000000-0000-0000-0000-000000000002";
pub const EMBEDDED_TENANT_ID: &str = "00000000-0000-0000-0000-000000000001";
pub const EMBEDDED_USERNAME: &str = "embedded_user";

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthMethod {
    /// No credentials: the local embedded user (the app's own webview, the headless example).
    Embedded,
    /// The listener's per-launch token, acting as the embedded user.
    LaunchToken,
    /// A JWT access token from sign-in or a refresh (`Authorization: Bearer`).
    Jwt,
    /// A Shannon API key (`X-API-Key`, or `Authorization: Bearer sk_…`).
    ApiKey {
        /// The key's id (never the key itself).
        key_id: String,
    },
}

/// The identity an operation runs as. Every user-scoped query filters on `user_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user it acts as.
    pub user_id: String,
    /// The user's tenant: a fixed one for the embedded user, its own for each registered user.
    pub tenant_id: String,
    /// How it authenticated.
    pub method: AuthMethod,
}

impl Caller {
    /// The local embedded user, without credentials ([`AuthMethod::Embedded`]).
    pub fn embedded() -> Self {
        Self {
            user_id: EMBEDDED_USER_ID.to_string(),
            tenant_id: EMBEDDED_TENANT_ID.to_string(),
            method: AuthMethod::Embedded,
        }
    }
}

#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct RegisterRequest {
    pub email: String,
    /// Defaults to the part of the e-mail before `@`.
    #[serde(default)]
    pub username: Option<String>,
    pub password: SecretString,
    #[serde(default)]
    pub full_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct LoginRequest {
    /// E-mail or username.
    pub email: String,
    pub password: SecretString,
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct UserInfo {
    pub email: Option<String>,
    pub username: String,
    pub name: Option<String>,
}

/// Register/login response, in the cloud's shape.
#[derive(Clone, Serialize, specta::Type)]
pub struct AuthResponse {
    pub user_id: String,
    pub tenant_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u32,
    pub tier: String,
    pub is_new_user: bool,
    pub user: UserInfo,
}

impl std::fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthResponse")
            .field("user_id", &self.user_id)
            .field("access_token", &"***")
            .field("refresh_token", &"***")
            .field("is_new_user", &self.is_new_user)
            .finish_non_exhaustive()
    }
}

/// Refresh response, in the cloud's shape.
#[derive(Clone, Serialize, specta::Type)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u32,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenPair { access_token: ***, refresh_token: *** }")
    }
}

/// `me`: who the caller is.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct UserProfile {
    pub user_id: String,
    pub tenant_id: String,
    pub email: Option<String>,
    pub username: String,
    pub name: Option<String>,
    pub role: String,
    pub tier: String,
    pub auth_method: AuthMethod,
}

fn validate_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(ShannonError::invalid("email is not a valid address"))
    }
}

fn validate_username(name: &str) -> Result<String> {
    let name = name.trim().to_string();
    let valid = (3..=50).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(name)
    } else {
        Err(ShannonError::invalid(
            "username must be 3..50 letters, digits, '_', '-' or '.'",
        ))
    }
}

/// A username from the e-mail's local part, padded to the minimum length.
fn derive_username(email: &str) -> String {
    let local: String = email
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(40)
        .collect();
    if local.chars().count() < 3 {
        format!("{local}-user")
    } else {
        local
    }
}

fn validate_password(password: &SecretString) -> Result<()> {
    let n = password.expose().chars().count();
    if !(8..=256).contains(&n) {
        return Err(ShannonError::invalid("password must be 8..256 characters"));
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ShannonError::Internal(format!("password hashing failed: {e}")))
}

/// A password is checked against this hash when the user does not exist, so response time does not
/// reveal which accounts exist.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password(&uuid::Uuid::new_v4().to_string()).unwrap_or_default()
});

impl Core {
    /// Creates a user with an e-mail and password; returns tokens for it.
    pub async fn register(&self, req: RegisterRequest) -> Result<AuthResponse> {
        let email = validate_email(&req.email)?;
        let derived = req.username.is_none();
        let username = match req.username.as_deref() {
            Some(name) => validate_username(name)?,
            None => derive_username(&email),
        };
        validate_password(&req.password)?;
        let full_name = req
            .full_name
            .map(|n| n.trim().chars().take(200).collect::<String>())
            .filter(|n| !n.is_empty());
        let password = req.password.clone();
        let hash = blocking(move || hash_password(password.expose())).await?;
        let user = UserRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: uuid::Uuid::new_v4().to_string(),
            username,
            email: Some(email),
            password_hash: Some(hash),
            full_name,
            role: "user".into(),
            tier: "free".into(),
            is_active: true,
        };
        let (id, tenant, uname, mail, phash, fname) = (
            user.id.clone(),
            user.tenant_id.clone(),
            user.username.clone(),
            user.email.clone(),
            user.password_hash.clone(),
            user.full_name.clone(),
        );
        let final_username = self
            .store()
            .write(move |tx| {
                let email_taken =
                    store::users::email_exists(tx, mail.as_deref().unwrap_or_default())?;
                let mut uname = uname;
                let name_taken = |n: &str| store::users::username_exists(tx, n);
                if !email_taken && derived && name_taken(&uname)? {
                    // A derived name is only a convenience: make it unique instead of failing.
                    uname = format!(
                        "{uname}-{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..6]
                    );
                }
                if email_taken || name_taken(&uname)? {
                    return Err(ShannonError::Conflict(
                        "a user with this email or username already exists".into(),
                    ));
                }
                let now = time::now();
                store::users::insert(
                    tx,
                    &NewUser {
                        id: &id,
                        tenant_id: &tenant,
                        username: &uname,
                        email: mail.as_deref(),
                        password_hash: phash.as_deref(),
                        full_name: fname.as_deref(),
                        now: &now,
                    },
                )?;
                Ok(uname)
            })
            .await?;
        let mut user = user;
        user.username = final_username;
        tracing::info!(user_id = %user.id, "registered a user");
        self.auth_response(user, true).await
    }

    /// Checks an e-mail (or username) and password; returns fresh tokens.
    pub async fn login(&self, req: LoginRequest) -> Result<AuthResponse> {
        let ident = req.email.trim().to_lowercase();
        let user = self
            .store()
            .read(move |c| store::users::find_by_login(c, &ident))
            .await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let password = req.password.clone();
        let ok = blocking(move || {
            let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
            let parsed = PasswordHash::new(&stored)
                .map_err(|_| ShannonError::Internal("stored password hash is malformed".into()))?;
            Ok(Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok())
        })
        .await?;
        match user {
            Some(u) if ok && u.is_active && u.password_hash.is_some() => {
                self.auth_response(u, false).await
            }
            _ => Err(ShannonError::InvalidCredentials),
        }
    }

    async fn auth_response(&self, user: UserRow, is_new_user: bool) -> Result<AuthResponse> {
        let pair = self.issue_tokens(&user.id, &user.tenant_id).await?;
        Ok(AuthResponse {
            user_id: user.id,
            tenant_id: user.tenant_id,
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: pair.token_type,
            expires_in: pair.expires_in,
            tier: user.tier,
            is_new_user,
            user: UserInfo {
                email: user.email,
                username: user.username,
                name: user.full_name,
            },
        })
    }

    async fn issue_tokens(&self, user_id: &str, tenant_id: &str) -> Result<TokenPair> {
        let (access, _) = self.jwt().issue(user_id, tenant_id, TokenType::Access)?;
        let (refresh, claims) = self.jwt().issue(user_id, tenant_id, TokenType::Refresh)?;
        self.store()
            .write(move |tx| {
                store::users::insert_refresh_token(
                    tx,
                    &claims.jti,
                    &claims.sub,
                    &chrono::DateTime::from_timestamp(claims.exp, 0)
                        .map(time::format)
                        .unwrap_or_default(),
                    &time::now(),
                )
            })
            .await?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer".into(),
            expires_in: jwt::ACCESS_TTL_SECS as u32,
        })
    }

    /// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a used one
    /// again revokes every refresh token of that user (it was probably stolen).
    pub async fn refresh_token(&self, refresh_token: &SecretString) -> Result<TokenPair> {
        let claims = self
            .jwt()
            .verify(refresh_token.expose(), TokenType::Refresh)
            .map_err(|_| ShannonError::InvalidRefreshToken)?;
        let (jti, user) = (claims.jti.clone(), claims.sub.clone());
        let state = self
            .store()
            .read(move |c| store::users::refresh_token_state(c, &jti, &user))
            .await?;
        match state {
            Some(RefreshTokenState {
                revoked_at: None,
                user_active: true,
            }) => {}
            Some(RefreshTokenState {
                revoked_at: Some(_),
                ..
            }) => {
                let user = claims.sub.clone();
                self.store()
                    .write(move |tx| {
                        store::users::revoke_refresh_tokens_for_user(tx, &user, &time::now())?;
                        Ok(())
                    })
                    .await?;
                tracing::warn!(user_id = %claims.sub, "a used refresh token was presented again; revoked all refresh tokens of the user");
                return Err(ShannonError::InvalidRefreshToken);
            }
            _ => return Err(ShannonError::InvalidRefreshToken),
        }
        let pair = self.issue_tokens(&claims.sub, &claims.tenant_id).await?;
        let new_jti = self
            .jwt()
            .verify(&pair.refresh_token, TokenType::Refresh)?
            .jti;
        let jti = claims.jti.clone();
        let rotated = self
            .store()
            .write(move |tx| {
                store::users::mark_refresh_token_replaced(tx, &jti, &time::now(), &new_jti)
            })
            .await?;
        if rotated == 0 {
            // A concurrent refresh used the same token first.
            return Err(ShannonError::InvalidRefreshToken);
        }
        Ok(pair)
    }

    /// Resolves a bearer credential (JWT access token or Shannon API key) to a caller.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        let token = token.trim();
        if jwt::looks_like_jwt(token) {
            let claims = self.jwt().verify(token, TokenType::Access)?;
            let user = claims.sub.clone();
            let active: Option<bool> = self
                .store()
                .read(move |c| store::users::is_active(c, &user))
                .await?;
            if active != Some(true) {
                return Err(ShannonError::InvalidToken);
            }
            return Ok(Caller {
                user_id: claims.sub,
                tenant_id: claims.tenant_id,
                method: AuthMethod::Jwt,
            });
        }
        self.authenticate_api_key(token).await
    }

    /// Signs an access token for `user_id` that expires at `exp` (unix seconds). Tests use it to prove
    /// expired tokens are refused; anything holding a `Core` can already act as any user.
    #[doc(hidden)]
    pub fn sign_access_token_expiring_at(
        &self,
        user_id: &str,
        tenant_id: &str,
        exp: i64,
    ) -> Result<String> {
        self.jwt().sign(&jwt::Claims {
            sub: user_id.to_string(),
            tenant_id: tenant_id.to_string(),
            typ: TokenType::Access,
            jti: uuid::Uuid::new_v4().to_string(),
            iat: exp - jwt::ACCESS_TTL_SECS,
            exp,
            iss: jwt::ISSUER.to_string(),
        })
    }

    /// Who the caller is.
    pub async fn me(&self, caller: &Caller) -> Result<UserProfile> {
        let user = caller.user_id.clone();
        let row = self
            .store()
            .read(move |c| store::users::get(c, &user)?.ok_or(ShannonError::InvalidToken))
            .await?;
        Ok(UserProfile {
            user_id: row.id,
            tenant_id: row.tenant_id,
            email: row.email,
            username: row.username,
            name: row.full_name,
            role: row.role,
            tier: row.tier,
            auth_method: caller.method.clone(),
        })
    }
}
