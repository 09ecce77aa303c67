//! The gateway's own French pages on application hosts (refusals, upstream failures,
//! overload), rendered once at start-up, and the small answers the proxy writes itself
//! (redirects). docs/gateway.md lists when each is sent.

use crate::error_page::error_page;
use crate::state::Gateway;
use bytes::Bytes;
use http::header;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

pub(super) const FORBIDDEN_HEADING: &str = "Accès refusé";
pub(super) const FORBIDDEN_MESSAGE: &str = "Vous n'avez pas de droit sur cette application. Si vous en avez besoin, adressez-vous au référent administrateur de votre structure.";

/// French pages rendered once at start-up.
pub(super) struct Pages {
    csp: http::HeaderValue,
    pub forbidden: Bytes,
    pub unknown: Bytes,
    pub bad_gateway: Bytes,
    pub timeout: Bytes,
    pub unavailable: Bytes,
    pub second_factor: Bytes,
    pub expired_link: Bytes,
    pub directory_unavailable: Bytes,
    pub overloaded: Bytes,
}

impl Pages {
    pub fn render(gw: &Gateway) -> Result<Pages, String> {
        let url = gw.config.public_url.as_str();
        let help = &gw.config.support;
        let page = |status, heading: &str, message: &str| {
            Bytes::from(error_page(url, help, None, status, heading, message))
        };
        let csp = format!(
            "default-src 'none'; style-src {url}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        );
        Ok(Pages {
            csp: http::HeaderValue::from_str(&csp)
                .map_err(|_| format!("server.public_url {url:?} cannot go in a header"))?,
            forbidden: page(403, FORBIDDEN_HEADING, FORBIDDEN_MESSAGE),
            unknown: page(404, "Adresse inconnue", "Aucune application n'est déclarée à cette adresse."),
            bad_gateway: page(502, "Application indisponible", "L'application ne répond pas pour le moment. Réessayez dans quelques instants ; si le problème persiste, contactez l'assistance."),
            timeout: page(504, "Application trop lente", "L'application n'a pas répondu à temps. Réessayez dans quelques instants."),
            unavailable: page(503, "Service momentanément indisponible", "La vérification de votre session est impossible pour le moment. Réessayez dans quelques instants."),
            second_factor: page(403, "Vérification en deux étapes requise", "Cette application n'est accessible qu'après la vérification en deux étapes. Ouvrez-la depuis le portail, dans votre navigateur."),
            expired_link: page(400, "Lien de connexion expiré", "Ce lien de connexion a expiré ou a déjà été utilisé. Repassez par le portail pour ouvrir l'application."),
            directory_unavailable: page(503, "Annuaire momentanément indisponible", crate::error_page::DIRECTORY_UNAVAILABLE),
            overloaded: page(503, "Service très sollicité", crate::error_page::OVERLOADED),
        })
    }
}

impl Pages {
    /// Writes one of these pages (`body`). Their only external resource is the portal's
    /// stylesheet, so that is all the CSP allows.
    pub async fn send(
        &self,
        session: &mut Session,
        status: u16,
        body: &Bytes,
        retry_after: Option<http::HeaderValue>,
    ) -> Result<bool> {
        let mut h = ResponseHeader::build(status, Some(9))?;
        if let Some(v) = retry_after {
            h.insert_header(header::RETRY_AFTER, v)?;
        }
        h.insert_header(header::CONTENT_TYPE, "text/html; charset=utf-8")?;
        h.insert_header(header::CONTENT_LENGTH, body.len())?;
        h.insert_header(header::CACHE_CONTROL, "no-store")?;
        h.insert_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")?;
        h.insert_header(header::X_FRAME_OPTIONS, "DENY")?;
        h.insert_header(header::REFERRER_POLICY, "same-origin")?;
        h.insert_header(header::CONTENT_SECURITY_POLICY, self.csp.clone())?;
        session.write_response_header(Box::new(h), false).await?;
        session
            .write_response_body(Some(body.clone()), true)
            .await?;
        Ok(true)
    }
}

pub(super) async fn redirect(
    session: &mut Session,
    location: &str,
    set_cookie: Option<String>,
) -> Result<bool> {
    redirect_with(session, location, set_cookie.as_slice()).await
}

pub(super) async fn redirect_with(
    session: &mut Session,
    location: &str,
    cookies: &[String],
) -> Result<bool> {
    let mut h = ResponseHeader::build(302, Some(4))?;
    h.insert_header(header::LOCATION, location)?;
    h.insert_header(header::CONTENT_LENGTH, 0)?;
    h.insert_header(header::CACHE_CONTROL, "no-store")?;
    for c in cookies {
        h.append_header(header::SET_COOKIE, c)?;
    }
    session.write_response_header(Box::new(h), true).await?;
    Ok(true)
}
