//! Signing in through an external OpenID Connect identity provider
//! (docs/identity-providers.md): the button sends the browser to the provider, the return is
//! verified, the identity is matched to an account of the directory, and a session starts as
//! after a password. The directory still decides what the account may use.

use super::context::PortalRequest;
use super::error::{WebError, WebResult};
use super::pages::{LoginPage, ProviderButton};
use super::set_cookie;
use crate::auth::oidc_client::flow::{self, ExternalIdentity, Pending};
use crate::auth::oidc_client::{OidcError, Provider, Status};
use crate::directory::audit::AuditEvent;
use crate::directory::audit_action::AuditAction;
use crate::directory::identity_links::{self, Asserted, FirstSignIn, Refusal};
use crate::session::{key_of, Assurance, ProviderLogin, ACR_PASSWORD, ACR_SECOND_FACTOR};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// How long the provider may take to send the user back.
const PENDING_TTL: Duration = Duration::from_secs(10 * 60);

pub fn buttons(ctx: &PortalRequest, return_to: &str) -> Vec<ProviderButton> {
    let rt: String = form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    ctx.gw
        .providers
        .all()
        .iter()
        .map(|p| ProviderButton {
            url: format!(
                "{}/login/fournisseur/{}{}",
                ctx.gw.config.public_url,
                p.config.slug,
                if rt.is_empty() {
                    String::new()
                } else {
                    format!("?return_to={rt}")
                }
            ),
            name: p.config.name.clone(),
            available: !matches!(p.status(), Status::Down(_)),
        })
        .collect()
}

/// Origins a portal form may lead to besides itself: logging out redirects to the providers'
/// end-session endpoints (CSP `form-action` applies to redirects).
pub fn form_targets(gw: &crate::state::Gateway) -> Vec<String> {
    gw.providers
        .all()
        .iter()
        .filter_map(|p| url::Url::parse(&p.config.issuer).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect()
}

fn redirect_uri(ctx: &PortalRequest, slug: &str) -> String {
    callback_url(&ctx.gw.config.public_url, slug)
}

/// The gateway's return address for provider `slug` (the `callback` route), as a provider is
/// told it (also by the demo's built-in provider).
pub fn callback_url(public_url: &str, slug: &str) -> String {
    format!("{public_url}/login/fournisseur/{slug}/retour")
}

/// Where the provider sends the browser after logging out there.
pub fn post_logout_uri(gw: &crate::state::Gateway) -> String {
    logged_out_url(&gw.config.public_url)
}

/// The address of the `logged_out` route under `public_url`.
pub fn logged_out_url(public_url: &str) -> String {
    format!("{public_url}/login/fournisseur/deconnexion")
}

fn provider(ctx: &PortalRequest, slug: &str) -> WebResult<Arc<Provider>> {
    ctx.gw.providers.get(slug).ok_or(WebError::NotFound)
}

#[derive(Deserialize, Default)]
pub struct StartQuery {
    #[serde(default)]
    return_to: String,
}

/// The login page again, with a French message: the user can try again or use a password.
fn refuse(mut ctx: PortalRequest, status: StatusCode, message: String) -> WebResult<Response> {
    use askama::Template;
    let mut headers = HeaderMap::new();
    ctx.ensure_csrf_cookie(&mut headers);
    let page = LoginPage {
        l: ctx.layout("Se connecter"),
        providers: buttons(&ctx, ""),
        email: String::new(),
        error: Some(message),
        notice: None,
        return_to: String::new(),
    };
    Ok((status, headers, axum::response::Html(page.render()?)).into_response())
}

fn unavailable(p: &Provider) -> String {
    format!(
        "Le service {} est momentanément indisponible. Connectez-vous avec votre adresse e-mail et votre mot de passe, ou réessayez plus tard.",
        p.config.name
    )
}

/// "S'identifier avec ...": remembers the attempt under a fresh `state` in the session store
/// (so any instance can finish it), binds it to this browser, and sends it to the provider.
pub async fn start(
    ctx: PortalRequest,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> WebResult<Response> {
    let p = provider(&ctx, &slug)?;
    let return_to = ctx
        .gw
        .routes()
        .validate_return(&q.return_to)
        .unwrap_or_default();
    if ctx.user.is_some() {
        let to = if return_to.is_empty() {
            "/"
        } else {
            &return_to
        };
        return Ok(Redirect::to(to).into_response());
    }
    // Each start stores a pending attempt: bounded per client address
    // (docs/identity-providers.md#limits).
    if let Err(wait) = ctx.gw.provider_start_allowed(&ctx.ip) {
        crate::telemetry::identity_provider_login(&slug, "throttled");
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let secs = secs.max(1);
        let msg = format!(
            "Trop de demandes de connexion depuis votre connexion. Patientez {} avant de réessayer.",
            super::french::duration(secs as i64)
        );
        let mut res = refuse(ctx, StatusCode::TOO_MANY_REQUESTS, msg)?;
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(res);
    }
    let meta = match p.metadata().await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(provider = %slug, error = %e, "sign-in through an identity provider not started");
            crate::telemetry::identity_provider_login(&slug, "unavailable");
            let msg = unavailable(&p);
            return refuse(ctx, StatusCode::SERVICE_UNAVAILABLE, msg);
        }
    };
    let binding = super::context::cookie_value(&headers, &ctx.gw.cookies.provider_binding)
        .filter(|b| b.len() == 43)
        .unwrap_or_else(crate::auth::random_token);
    let pending = Pending {
        slug: slug.clone(),
        nonce: crate::auth::random_token(),
        verifier: p.config.pkce.then(crate::auth::random_token),
        return_to,
        browser: crate::session::browser_binding(&binding),
    };
    let state = crate::auth::random_token();
    let url = flow::authorization_url(&p, &meta, &redirect_uri(&ctx, &slug), &state, &pending)
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let json = serde_json::to_string(&pending).map_err(|e| WebError::Internal(e.to_string()))?;
    ctx.gw
        .sessions
        .store
        .put_once(key_of(&state), json, PENDING_TTL)
        .await?;
    let mut out = HeaderMap::new();
    out.insert(
        header::SET_COOKIE,
        set_cookie(
            &ctx.gw,
            &ctx.gw.cookies.provider_binding,
            &binding,
            false,
            false,
        ),
    );
    out.insert(
        header::LOCATION,
        HeaderValue::from_str(&url).map_err(|e| WebError::Internal(e.to_string()))?,
    );
    Ok((StatusCode::SEE_OTHER, out).into_response())
}

#[derive(Deserialize, Default)]
pub struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: Option<String>,
    /// RFC 9207: the issuer of the response, when the provider names it (mix-up defence).
    #[serde(default)]
    iss: Option<String>,
}

/// The provider's return: the `state` must be one this gateway issued to this browser and
/// not used yet, the tokens must verify, and the identity must match an account by the rules
/// of docs/identity-providers.md#account-linking. Every refusal is a French page, audited,
/// and stores nothing.
pub async fn callback(
    ctx: PortalRequest,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> WebResult<Response> {
    let p = provider(&ctx, &slug)?;
    let gw = ctx.gw.clone();
    let pending = take_pending(&ctx, &headers, &slug, &q.state).await?;
    let Some(pending) = pending else {
        crate::telemetry::identity_provider_login(&slug, "refused");
        audit_refusal(&ctx, &slug, "", "unknown, used or foreign state").await?;
        let msg = "La demande de connexion a expiré ou a déjà servi. Recommencez la connexion.";
        return refuse(ctx, StatusCode::BAD_REQUEST, msg.into());
    };
    if let Some(err) = &q.error {
        crate::telemetry::identity_provider_login(&slug, "refused");
        let err: String = err
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        audit_refusal(&ctx, &slug, "", &format!("provider answered {err}")).await?;
        let msg = format!(
            "La connexion avec {} n'a pas abouti. Recommencez, ou connectez-vous avec votre adresse e-mail et votre mot de passe.",
            p.config.name
        );
        return refuse(ctx, StatusCode::UNAUTHORIZED, msg);
    }
    if q.iss.as_ref().is_some_and(|i| *i != p.config.issuer) {
        crate::telemetry::identity_provider_login(&slug, "refused");
        audit_refusal(&ctx, &slug, "", "response from another issuer (iss)").await?;
        let msg = format!(
            "La réponse de {} n'a pas pu être vérifiée. Recommencez la connexion.",
            p.config.name
        );
        return refuse(ctx, StatusCode::BAD_REQUEST, msg);
    }
    if q.code.is_empty() || q.code.len() > 2048 {
        return Err(WebError::BadRequest(
            "Le retour du fournisseur d'identité est incomplet. Recommencez la connexion.".into(),
        ));
    }
    let ext = match flow::sign_in(&p, &q.code, &pending, &redirect_uri(&ctx, &slug)).await {
        Ok(ext) => ext,
        Err(e) => {
            let (status, msg, result) = match &e {
                OidcError::Unavailable(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, unavailable(&p), "unavailable")
                }
                OidcError::Acr(_) => (
                    StatusCode::FORBIDDEN,
                    format!(
                        "{} n'a pas fourni le niveau d'authentification demandé. Recommencez en choisissant une authentification plus forte.",
                        p.config.name
                    ),
                    "refused",
                ),
                OidcError::Rejected(_) => (
                    StatusCode::BAD_REQUEST,
                    format!(
                        "La réponse de {} n'a pas pu être vérifiée. Recommencez la connexion ; si le problème persiste, connectez-vous avec votre adresse e-mail et votre mot de passe.",
                        p.config.name
                    ),
                    "refused",
                ),
            };
            tracing::warn!(provider = %slug, error = %e, "sign-in through an identity provider refused");
            crate::telemetry::identity_provider_login(&slug, result);
            audit_refusal(&ctx, &slug, "", &e.to_string()).await?;
            return refuse(ctx, status, msg);
        }
    };
    let user_id = match account_for(&gw, &p, &ext, &ctx.ip).await? {
        Ok(id) => id,
        Err(refusal) => {
            crate::telemetry::identity_provider_login(&slug, "refused");
            let email = ext.email.clone().unwrap_or_default();
            audit_refusal(&ctx, &slug, &email, refusal.reason()).await?;
            let msg = refusal_message(refusal, &p.config.name);
            return refuse(ctx, StatusCode::FORBIDDEN, msg);
        }
    };
    finish(ctx, &p, ext, user_id, pending.return_to).await
}

/// Takes the attempt behind `state` (once: a replayed state finds nothing) and checks it
/// belongs to this provider and to this browser.
async fn take_pending(
    ctx: &PortalRequest,
    headers: &HeaderMap,
    slug: &str,
    state: &str,
) -> WebResult<Option<Pending>> {
    if state.is_empty() || state.len() > 128 {
        return Ok(None);
    }
    let Some(json) = ctx.gw.sessions.store.take_once(&key_of(state)).await? else {
        return Ok(None);
    };
    let Ok(pending) = serde_json::from_str::<Pending>(&json) else {
        return Ok(None);
    };
    let binding = super::context::cookie_value(headers, &ctx.gw.cookies.provider_binding)
        .map(|b| crate::session::browser_binding(&b))
        .unwrap_or_default();
    let same_browser: bool =
        subtle::ConstantTimeEq::ct_eq(binding.as_bytes(), pending.browser.as_bytes()).into();
    Ok((same_browser && pending.slug == slug).then_some(pending))
}

/// The account of a verified identity: its link, else the rule of a first sign-in (which may
/// link or create).
async fn account_for(
    gw: &crate::state::Gateway,
    p: &Provider,
    ext: &ExternalIdentity,
    ip: &str,
) -> WebResult<Result<i64, Refusal>> {
    let c = &p.config;
    if let Some(id) = gw.dir.linked_user(&c.issuer, &ext.sub).await? {
        gw.dir.touch_identity_link(&c.issuer, &ext.sub).await?;
        return Ok(Ok(id));
    }
    let email = ext.email.as_deref();
    let candidate = match email {
        Some(e) => gw.dir.link_candidate(e, &c.slug).await?,
        None => None,
    };
    let creation = match (c.create_accounts, email) {
        (true, Some(e)) => Some(creation_structures(gw, p, ext, e).await?),
        _ => None,
    };
    let asserted = Asserted {
        email,
        email_verified: ext.email_verified,
        trusted_for_email: c.trust_email,
        subject: &ext.sub,
    };
    let outcome = identity_links::first_sign_in(&asserted, candidate.as_ref(), creation.as_deref());
    let email = email.unwrap_or_default();
    let user_id = match outcome {
        FirstSignIn::Refused(r) => return Ok(Err(r)),
        FirstSignIn::Link(id) => {
            // A locked or expired account is refused (by `finish`) before anything is stored.
            let usable_once_linked = gw.identities.get(&gw.dir, id).await?.is_some_and(|i| {
                let mut linked = i.identity.clone();
                linked.has_provider_link = true;
                linked.is_usable(&crate::directory::today())
            });
            if !usable_once_linked {
                return Ok(Ok(id));
            }
            id
        }
        FirstSignIn::Create(structure_id) => {
            let (Some(first), Some(last)) = (&ext.given_name, &ext.family_name) else {
                return Ok(Err(Refusal::NoAccount));
            };
            gw.dir
                .provision_user(crate::directory::users::NewUser {
                    email,
                    first_name: first,
                    last_name: last,
                    structure_id,
                    job_title: "",
                    service: "",
                    app_identifier: "",
                    platform_admin: false,
                    created_by: None,
                })
                .await?
        }
    };
    if !gw
        .dir
        .link_identity(&c.slug, &c.issuer, &ext.sub, user_id, email)
        .await?
    {
        return Ok(Err(Refusal::LinkedToAnother));
    }
    gw.user_changed(user_id);
    let created = matches!(outcome, FirstSignIn::Create(_));
    gw.dir
        .audit(AuditEvent {
            actor_id: Some(user_id),
            actor: email,
            target: email,
            details: &format!("provider: {}", c.slug),
            ..AuditEvent::of(if created {
                AuditAction::ProviderAccountCreated
            } else {
                AuditAction::ProviderLinked
            })
        })
        .await?;
    if !created {
        super::broker_mail::linked(gw, user_id, &c.name, ip).await?;
    }
    Ok(Ok(user_id))
}

/// Where an account may be created: the structure the SIRET maps to, else those owning the
/// e-mail's domain themselves.
async fn creation_structures(
    gw: &crate::state::Gateway,
    p: &Provider,
    ext: &ExternalIdentity,
    email: &str,
) -> WebResult<Vec<i64>> {
    if let Some(id) = ext
        .siret
        .as_ref()
        .and_then(|s| p.config.siret_structures.get(s))
    {
        return Ok(if gw.dir.structure_exists(*id).await? {
            vec![*id]
        } else {
            tracing::warn!(provider = %p.config.slug, structure = id, "siret_structures names a structure that does not exist");
            Vec::new()
        });
    }
    let domain = crate::directory::fields::domain_of(email);
    Ok(gw.dir.structures_owning_domain(&domain).await?)
}

fn refusal_message(r: Refusal, provider: &str) -> String {
    let ask = "Demandez à votre référent administrateur.";
    match r {
        Refusal::NoAccount => format!(
            "Aucun compte Convergences ne correspond à votre identité {provider}. Demandez à votre référent administrateur de vous inscrire."
        ),
        Refusal::EmailNotVerified => format!(
            "{provider} n'a pas confirmé votre adresse e-mail : elle ne peut pas servir à retrouver votre compte. {ask}"
        ),
        Refusal::DomainNotAllowed => format!(
            "Votre adresse e-mail n'appartient pas aux domaines de votre structure : votre compte ne peut pas être associé à votre identité {provider}. {ask}"
        ),
        Refusal::LinkedToAnother => format!(
            "Ce compte est déjà associé à une autre identité {provider}. {ask}"
        ),
        Refusal::PrivilegedNeedsVerified => format!(
            "Ce compte ne peut pas être associé automatiquement à votre identité {provider}. Connectez-vous avec votre mot de passe, ou {}",
            ask.to_lowercase()
        ),
        Refusal::Ambiguous => format!(
            "Votre structure n'a pas pu être déterminée d'après votre identité {provider}. Demandez à votre référent administrateur de créer votre compte."
        ),
    }
}

/// The session, as after a password: refused for a locked or expired account; the second
/// factor is asked when the account has one and the provider's level does not count as one.
async fn finish(
    ctx: PortalRequest,
    p: &Provider,
    ext: ExternalIdentity,
    user_id: i64,
    return_to: String,
) -> WebResult<Response> {
    let gw = ctx.gw.clone();
    let slug = &p.config.slug;
    let ident = gw.identities.get(&gw.dir, user_id).await?;
    let Some(ident) = ident.filter(|i| i.identity.is_usable(&crate::directory::today())) else {
        crate::telemetry::identity_provider_login(slug, "refused");
        let email = ext.email.clone().unwrap_or_default();
        audit_refusal(&ctx, slug, &email, "account not usable").await?;
        let msg = "Votre compte est verrouillé ou hors de sa période de validité. Contactez votre référent administrateur.";
        return refuse(ctx, StatusCode::FORBIDDEN, msg.into());
    };
    let id = &ident.identity;
    let now = crate::directory::now();
    let strong = ext
        .acr
        .as_ref()
        .is_some_and(|a| p.config.second_factor_acr.contains(a));
    let login = ProviderLogin {
        slug: slug.clone(),
        id_token: ext.id_token.clone(),
    };
    if !strong && crate::second_factor::has_factor(&gw, user_id).await? {
        return super::second_factor::ask_after(&ctx, user_id, &id.email, &return_to, Some(login));
    }
    crate::telemetry::identity_provider_login(slug, "ok");
    let details = format!(
        "provider: {slug}; acr: {}",
        ext.acr.as_deref().unwrap_or("none")
    );
    super::sign_in::open_session(
        &ctx,
        id,
        super::sign_in::SignIn {
            assurance: assurance(&ext, strong, now),
            details: &details,
            return_to: &return_to,
            extra: &[],
            provider: Some(login),
            method: super::account_events::PROVIDER,
        },
    )
    .await
}

/// The session's assurance from the provider's: its methods and time, and the level of a
/// second factor when its `acr` is one of `second_factor_acr` (docs/security.md#assurance).
fn assurance(ext: &ExternalIdentity, strong: bool, now: i64) -> Assurance {
    let mut amr = ext.amr.clone();
    if amr.is_empty() {
        amr.push("pwd".into());
    }
    if strong && !amr.iter().any(|m| m == "mfa") {
        amr.push("mfa".into());
    }
    Assurance {
        auth_time: ext.auth_time.filter(|t| *t <= now && *t > 0).unwrap_or(now),
        amr,
        acr: if strong {
            ACR_SECOND_FACTOR
        } else {
            ACR_PASSWORD
        }
        .into(),
    }
}

async fn audit_refusal(ctx: &PortalRequest, slug: &str, email: &str, why: &str) -> WebResult<()> {
    let details: String = format!("provider: {slug}; {why}")
        .chars()
        .take(300)
        .collect();
    ctx.gw
        .dir
        .audit(AuditEvent {
            actor: email,
            client_ip: &ctx.ip,
            details: &details,
            ..AuditEvent::of(AuditAction::LoginFailed)
        })
        .await?;
    Ok(())
}

/// The provider's end-session URL for a session it signed in, if it has one.
pub async fn logout_url(gw: &crate::state::Gateway, login: &ProviderLogin) -> Option<String> {
    let p = gw.providers.get(&login.slug)?;
    let meta = p.metadata().await.ok()?;
    flow::end_session_url(
        &meta,
        &login.id_token,
        &crate::auth::random_token(),
        &post_logout_uri(gw),
    )
}

/// Back from the provider's logout.
pub async fn logged_out() -> Redirect {
    Redirect::to("/login?logged_out=1")
}
