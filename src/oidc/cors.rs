//! Which web origins may read the provider's answers from a browser (CORS), for single-page
//! clients (docs/oidc-provider.md#cors): only the origins of registered redirect URIs, never
//! `*`. Discovery and the JWKS (public documents) are readable from the origin of any client;
//! the token and UserInfo endpoints only from a public client's, and an answer about a client
//! (its tokens, its user's claims) only from that client's own. No credentials (cookies) are
//! ever allowed: these endpoints do not use them.

use crate::config::OidcClient;
use crate::proxy::routes::RouteTable;

/// Who may read an answer.
#[derive(Clone, Copy, Debug)]
pub enum Readers<'a> {
    /// Public documents: any client's origin.
    AnyClient,
    /// An answer not yet tied to a client (a preflight, an unknown token): a public client's
    /// origin.
    PublicClients,
    /// An answer about this client: its own origins, if it is public.
    Client(&'a OidcClient),
}

/// `scheme://host[:port]` of a registered URI, as browsers send it in `Origin`.
fn origin_of(uri: &str) -> Option<String> {
    let o = url::Url::parse(uri).ok()?.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

fn serves(client: &OidcClient, origin: &str) -> bool {
    client
        .redirect_uris
        .iter()
        .any(|u| origin_of(u).as_deref() == Some(origin))
}

/// True when a browser page of `origin` may read the answer.
pub fn allowed(routes: &RouteTable, origin: &str, readers: Readers<'_>) -> bool {
    // "null" (sandboxed frames, files) and anything longer than an origin never match.
    if origin.len() > 300 || origin == "null" {
        return false;
    }
    let clients = routes.apps.iter().filter_map(|a| a.cfg.oidc.as_ref());
    match readers {
        Readers::AnyClient => clients.clone().any(|c| serves(c, origin)),
        Readers::PublicClients => clients.clone().any(|c| c.is_public() && serves(c, origin)),
        Readers::Client(c) => c.is_public() && serves(c, origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let toml = r#"
            [server]
            listen = "127.0.0.1:8080"
            portal_host = "auth.test"
            [[apps]]
            slug = "spa"
            name = "SPA"
            url = "https://spa.example.fr/"
            [apps.oidc]
            client_id = "spa-client"
            public = true
            redirect_uris = ["https://spa.example.fr/cb", "http://localhost:3000/cb"]
            [[apps]]
            slug = "srv"
            name = "Serveur"
            url = "https://srv.example.fr/"
            [apps.oidc]
            client_id = "srv-client"
            client_secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$yVzdlrDnHpxDFaqJb3LGhZDlYzFz/cRz0+oQ0z7Fg4M"
            redirect_uris = ["https://srv.example.fr/cb"]
        "#;
        RouteTable::new(&crate::config::Config::from_toml("t.toml", toml, &[]).unwrap())
    }

    #[test]
    fn only_registered_origins_read_and_only_public_clients_get_tokens() {
        let t = table();
        let spa = t
            .app_by_client_id("spa-client")
            .unwrap()
            .cfg
            .oidc
            .clone()
            .unwrap();
        let srv = t
            .app_by_client_id("srv-client")
            .unwrap()
            .cfg
            .oidc
            .clone()
            .unwrap();
        for o in ["https://spa.example.fr", "http://localhost:3000"] {
            assert!(allowed(&t, o, Readers::AnyClient), "{o}");
            assert!(allowed(&t, o, Readers::PublicClients), "{o}");
            assert!(allowed(&t, o, Readers::Client(&spa)), "{o}");
            assert!(!allowed(&t, o, Readers::Client(&srv)), "{o}");
        }
        assert!(allowed(&t, "https://srv.example.fr", Readers::AnyClient));
        assert!(!allowed(
            &t,
            "https://srv.example.fr",
            Readers::PublicClients
        ));
        assert!(!allowed(
            &t,
            "https://srv.example.fr",
            Readers::Client(&srv)
        ));
        for bad in [
            "https://evil.example.fr",
            "https://spa.example.fr.evil.fr",
            "https://spa.example.fr:443",
            "https://spa.example.fr/",
            "http://spa.example.fr",
            "https://SPA.example.fr",
            "null",
            "*",
            "",
        ] {
            assert!(!allowed(&t, bad, Readers::AnyClient), "{bad}");
        }
    }
}
