//! The authorization endpoint of the demo's test provider: the request checked whole, the
//! page to choose a demo account, and the code sent back to the gateway.

use super::page::{refuse, Page};
use super::*;

/// The authorization request: checked whole (client, return address, PKCE, `state`, `nonce`,
/// `openid`), then the page to choose an account.
pub(super) async fn authorize(State(idp): State<Arc<Idp>>, RawQuery(q): RawQuery) -> Response {
    let p = match params(q.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(m) => return refuse(&idp, m),
    };
    if get_param(&p, "client_id") != CLIENT_ID {
        return refuse(&idp, "Application cliente inconnue (client_id).");
    }
    // Never redirect anywhere but the registered address, even to say no.
    if get_param(&p, "redirect_uri") != idp.s.redirect_uri() {
        return refuse(&idp, "Adresse de retour non enregistrée (redirect_uri).");
    }
    if get_param(&p, "response_type") != "code" {
        return refuse(
            &idp,
            "Seul le flux « authorization code » est proposé (response_type).",
        );
    }
    let scopes: Vec<String> = get_param(&p, "scope")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return refuse(&idp, "La demande doit inclure la portée openid (scope).");
    }
    let challenge = get_param(&p, "code_challenge");
    if get_param(&p, "code_challenge_method") != "S256"
        || !crate::oidc::pkce::well_formed(challenge)
    {
        return refuse(&idp, "PKCE avec la méthode S256 est obligatoire.");
    }
    let (state, nonce) = (get_param(&p, "state"), get_param(&p, "nonce"));
    if state.is_empty() || nonce.is_empty() {
        return refuse(&idp, "Les paramètres state et nonce sont obligatoires.");
    }
    if !room(&idp.requests, |r| r.at, REQUEST_TTL) {
        return refuse(&idp, BUSY);
    }
    let id = crate::auth::random_token();
    idp.requests.insert(
        id.clone(),
        Request {
            state: state.to_string(),
            nonce: nonce.to_string(),
            challenge: challenge.to_string(),
            scopes,
            at: now(),
        },
    );
    let mut page = Page::new(&idp);
    page.request = id;
    page.accounts = ACCOUNTS
        .iter()
        .enumerate()
        .map(|(i, a)| {
            (
                i,
                as_whom(&format!("{} {}", a.given_name, a.usual_name)),
                a.email,
                a.description,
            )
        })
        .collect();
    page.send(StatusCode::OK)
}

/// "que Régis Référent", "qu'Agnès Agent": the words after « Se connecter en tant », elided
/// before a vowel as French writes it.
fn as_whom(name: &str) -> String {
    let vowel = name
        .chars()
        .next()
        .is_some_and(|c| "AEIOUYÀÂÉÈÊÎÔaeiouyàâéèêîô".contains(c));
    if vowel {
        format!("qu'{name}")
    } else {
        format!("que {name}")
    }
}

/// The account chosen on the page (or « Annuler »): a fresh code back to the gateway.
pub(super) async fn choose(State(idp): State<Arc<Idp>>, body: Bytes) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(m) => return refuse(&idp, m),
    };
    let Some((_, req)) = idp.requests.remove(get_param(&p, "demande")) else {
        return refuse(
            &idp,
            "Cette demande de connexion est inconnue ou a déjà servi : recommencez depuis le portail.",
        );
    };
    if req.at < now() - REQUEST_TTL {
        return refuse(
            &idp,
            "Cette demande de connexion a expiré : recommencez depuis le portail.",
        );
    }
    let back = idp.s.redirect_uri();
    let choice = get_param(&p, "compte");
    if choice == "annuler" {
        return see_other(&with_query(
            &back,
            &[
                ("error", "access_denied"),
                ("state", &req.state),
                ("iss", &idp.s.issuer),
            ],
        ));
    }
    let Some(account) = choice.parse::<usize>().ok().filter(|i| *i < ACCOUNTS.len()) else {
        return refuse(&idp, "Compte inconnu.");
    };
    if !room(&idp.codes, |g| g.at, CODE_TTL) {
        return refuse(&idp, BUSY);
    }
    let code = crate::auth::random_token();
    idp.codes.insert(
        code.clone(),
        Grant {
            account,
            nonce: req.nonce,
            challenge: req.challenge,
            scopes: req.scopes,
            at: now(),
        },
    );
    see_other(&with_query(
        &back,
        &[
            ("code", &code),
            ("state", &req.state),
            ("iss", &idp.s.issuer),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_elided_before_a_vowel() {
        assert_eq!(as_whom("Agnès Agent"), "qu'Agnès Agent");
        assert_eq!(as_whom("Régis Référent"), "que Régis Référent");
        assert_eq!(as_whom("Émile"), "qu'Émile");
    }
}
