use super::*;
use std::time::Duration;

const MINIMAL: &str = r#"
[server]
listen = "127.0.0.1:8080"
portal_host = "auth.example.fr"

[[apps]]
slug = "bip"
name = "BIP"
host = "bip.example.fr"
upstreams = ["127.0.0.1:9001"]
"#;

fn err(text: &str) -> String {
    Config::from_toml("conv.toml", text, &[])
        .unwrap_err()
        .to_string()
}

#[test]
fn minimal_file_gets_documented_defaults() {
    let c = Config::from_toml("conv.toml", MINIMAL, &[]).unwrap();
    assert_eq!(c.public_url, "http://auth.example.fr:8080");
    assert_eq!(c.apps[0].roles, vec!["administrateur", "utilisateur"]);
    assert_eq!(c.apps[0].headers.user.as_str(), "x-convergences-user");
    assert_eq!(c.sessions.idle_timeout, Duration::from_secs(1800));
    // Fail closed by default: no degraded mode unless asked for.
    assert_eq!(c.resilience.directory_grace, Duration::ZERO);
    assert_eq!(
        c.resilience.session_store_timeout,
        Duration::from_millis(500)
    );
    assert!(c.database_url.starts_with("sqlite://data/convergences.db"));
}

#[test]
fn unknown_key_is_named_with_its_path() {
    let e = err(&MINIMAL.replace("portal_host", "portal_hots"));
    assert!(e.starts_with("conv.toml: key `server"), "{e}");
    assert!(e.contains("portal_hots"), "{e}");
    let e = err(&format!("{MINIMAL}\ncolour = \"blue\"\n"));
    assert!(e.contains("apps[0]") || e.contains("colour"), "{e}");
}

#[test]
fn wrong_type_names_the_key_and_the_expectation() {
    let e = err(&MINIMAL.replace("[server]", "[server]\nthreads = \"two\""));
    assert!(e.contains("key `server.threads`"), "{e}");
    assert!(e.contains("expected"), "{e}");
}

#[test]
fn identity_cache_lifetime_defaults_to_ten_seconds_and_names_the_key_when_out_of_range() {
    let c = Config::from_toml("conv.toml", MINIMAL, &[]).unwrap();
    assert_eq!(c.identity_ttl, Duration::from_secs(10));
    let longer = MINIMAL.replace("[server]", "[server]\nidentity_cache_seconds = 60");
    let c = Config::from_toml("conv.toml", &longer, &[]).unwrap();
    assert_eq!(c.identity_ttl, Duration::from_secs(60));
    for bad in ["0", "301"] {
        let e = err(&MINIMAL.replace(
            "[server]",
            &format!("[server]\nidentity_cache_seconds = {bad}"),
        ));
        assert!(e.contains("server.identity_cache_seconds"), "{e}");
        assert!(e.contains("between 1 and 300"), "{e}");
    }
}

#[test]
fn threading_defaults_to_one_service_per_thread_and_names_the_key_when_wrong() {
    use crate::config::Threading;
    let c = Config::from_toml("conv.toml", MINIMAL, &[]).unwrap();
    assert_eq!(c.threading, Threading::PerThread);
    let shared = MINIMAL.replace("[server]", "[server]\nthreading = \"shared\"");
    let c = Config::from_toml("conv.toml", &shared, &[]).unwrap();
    assert_eq!(c.threading, Threading::Shared);
    let e = err(&MINIMAL.replace("[server]", "[server]\nthreading = \"per_core\""));
    assert!(e.contains("key `server.threading`"), "{e}");
    assert!(e.contains("per_thread") && e.contains("shared"), "{e}");
}

#[test]
fn syntax_errors_give_the_line() {
    let e = err("[server\nlisten = 1");
    assert!(e.starts_with("conv.toml: invalid TOML"), "{e}");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = r#"
[server]
listen = "nowhere"
portal_host = "Auth Example"
[sessions]
store = "memcached"
[[apps]]
slug = "BIP!"
name = ""
upstreams = []
roles = ["utilisateur"]
[apps.headers]
user = "bad header"
"#;
    let e = err(text);
    for key in [
        "server.listen",
        "server.portal_host",
        "sessions.store",
        "apps[0].slug",
        "apps[0].name",
        "apps[0].host",
        "apps[0].upstreams",
        "apps[0].roles",
        "apps[0].headers.user",
    ] {
        assert!(
            e.contains(&format!("key `{key}`")),
            "missing {key} in:\n{e}"
        );
    }
    assert!(e.lines().all(|l| l.starts_with("conv.toml: key `")), "{e}");
}

#[test]
fn duplicate_apps_and_reserved_prefixes_are_refused() {
    let text = format!(
        "{MINIMAL}\n[[apps]]\nslug = \"bip\"\nname = \"B2\"\npath_prefix = \"/login\"\nupstreams = [\"127.0.0.1:9\"]\n"
    );
    let e = err(&text);
    assert!(
        e.contains("key `apps[1].path_prefix`: \"/login\" is reserved"),
        "{e}"
    );
    let text = format!(
        "{MINIMAL}\n[[apps]]\nslug = \"bip\"\nname = \"B2\"\nhost = \"bip.example.fr\"\nupstreams = [\"127.0.0.1:9\"]\n"
    );
    let e = err(&text);
    assert!(
        e.contains("key `apps[1].slug`: \"bip\" is declared twice"),
        "{e}"
    );
    assert!(e.contains("key `apps[1]`: host \"bip.example.fr\""), "{e}");
}

#[test]
fn redis_store_needs_a_url() {
    let e = err(&MINIMAL.replace("[server]", "[sessions]\nstore = \"redis\"\n[server]"));
    assert!(e.contains("key `sessions.redis_url`: is required"), "{e}");
}

#[test]
fn environment_overrides_keys_and_reports_bad_names() {
    let env = vec![
        (
            "CONVERGENCES_DATABASE__URL".to_string(),
            "postgres://u:p@db/conv".to_string(),
        ),
        ("CONVERGENCES_SERVER__THREADS".to_string(), "4".to_string()),
        ("CONVERGENCES_CONFIG".to_string(), "ignored".to_string()),
        ("CONVERGENCES_LOG".to_string(), "debug".to_string()),
    ];
    let c = Config::from_toml("conv.toml", MINIMAL, &env).unwrap();
    assert_eq!(c.database_url, "postgres://u:p@db/conv");
    assert_eq!(c.threads, 4);
    let env = vec![("CONVERGENCES_DATABASE_URL".to_string(), "x".to_string())];
    let e = Config::from_toml("conv.toml", MINIMAL, &env)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("CONVERGENCES_DATABASE_URL") && e.contains("CONVERGENCES_SECTION__KEY"),
        "{e}"
    );
    let env = vec![("CONVERGENCES_SERVER__LISTN".to_string(), "x".to_string())];
    let e = Config::from_toml("conv.toml", MINIMAL, &env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("listn"), "{e}");
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let text = MINIMAL.replace(
        "[server]",
        "[security]\nsecret = \"0123456789abcdef0123456789abcdef-very-secret\"\n[server]",
    );
    let c = Config::from_toml("conv.toml", &text, &[]).unwrap();
    assert!(!format!("{c:?}").contains("very-secret"));
}

#[test]
fn shipped_example_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/convergences.toml");
    let c = Config::load(std::path::Path::new(path)).unwrap();
    assert!(!c.apps.is_empty());
    // The example documents the defaults of [resilience].
    let defaults = Config::from_toml("conv.toml", MINIMAL, &[]).unwrap();
    assert_eq!(c.resilience, defaults.resilience);
}

#[test]
fn metrics_token_from_file_or_environment_is_checked_and_redacted() {
    let c = Config::from_toml("conv.toml", MINIMAL, &[]).unwrap();
    assert!(
        c.metrics_token.is_none(),
        "no token by default: /metrics is off"
    );
    let token = "0123456789abcdef0123456789abcdef-metrics";
    let env = vec![(
        "CONVERGENCES_SERVER__METRICS_TOKEN".to_string(),
        token.to_string(),
    )];
    let c = Config::from_toml("conv.toml", MINIMAL, &env).unwrap();
    assert_eq!(c.metrics_token.as_ref().map(|s| s.0.as_str()), Some(token));
    assert!(!format!("{c:?}").contains(token), "redacted in Debug");
    let e = err(&MINIMAL.replace("[server]", "[server]\nmetrics_token = \"short\""));
    assert!(
        e.contains("key `server.metrics_token`: must be at least 32"),
        "{e}"
    );
    let empty = MINIMAL.replace("[server]", "[server]\nmetrics_token = \"\"");
    let c = Config::from_toml("conv.toml", &empty, &[]).unwrap();
    assert!(c.metrics_token.is_none(), "empty means unset");
}

/// Every message validation can give, in the order it gives them: the messages are part of the
/// operator interface (docs/product.md#operator-interface), so a change to any of them, or to
/// their order, must be deliberate.
#[test]
fn every_message_is_stable() {
    let first = r#"
[server]
listen = "nowhere"
portal_host = "Auth Example"
trusted_proxies = ["10.0.0.0/8", "192.168.1.1", "proxy"]
upstream_ca_file = "/nonexistent/ca.pem"
metrics_token = "short"
public_url = "ftp://auth.example.fr"
threads = 0
log_format = "xml"
[server.tls]
listen = "everywhere"
cert_file = "/nonexistent/cert.pem"
key_file = "/nonexistent/key.pem"
[database]
url = "mysql://db/conv"
max_connections = 0
[sessions]
store = "memcached"
cookie_name = "bad name"
app_cookie_name = "bad name"
cookie_domain = "other.fr"
idle_timeout_seconds = 0
[assertion]
ttl_seconds = 0
[security]
secret = "short"
login_delay_seconds = 0
attempts_per_ip_per_minute = 0
identity_provider_starts_per_ip_per_minute = 0
link_ttl_hours = 0
[mail]
from = "not an address"
transport = "smtp"
smtp_security = "ssl"
smtp_username = "relay"
[audit]
retention_days = 0
[reminders]
hour = 24
expiring_within_days = 0
[[apps]]
slug = "BIP!"
name = " "
upstreams = []
roles = ["utilisateur", "Chef"]
connect_timeout_ms = 0
read_timeout_ms = 0
[apps.headers]
user = "bad header"
name = "X-Convergences-User-Id"
"#;
    let second = r#"
[server]
listen = "127.0.0.1:8080"
portal_host = "auth.example.fr"
[sessions]
store = "redis"
redis_url = "http://cache:6379"
cookie_name = "sso"
app_cookie_name = "sso"
idle_timeout_seconds = 600
absolute_timeout_seconds = 60
[mail]
transport = "pigeon"
[resilience]
session_store_timeout_ms = 0
directory_timeout_ms = 600000
probe_interval_ms = 5
retry_after_seconds = 0
failures_to_open = 0
max_waiting = 0
max_connections = 0
max_requests = 0
directory_grace_seconds = 3601
[[apps]]
slug = "bip"
name = "BIP"
host = "bip.example.fr"
upstreams = ["127.0.0.1:9001"]
[[apps]]
slug = "bip"
name = "BIP bis"
host = "BIP.example.fr"
upstreams = ["127.0.0.1:9002", "bip:80x"]
roles = ["administrateur", "administrateur"]
[[apps]]
slug = "portal"
name = "On the portal"
host = "auth.example.fr"
upstreams = ["127.0.0.1:9003"]
[[apps]]
slug = "aia"
name = "Shadowing"
path_prefix = "/aia/x"
upstreams = ["127.0.0.1:9004"]
[[apps]]
slug = "nc"
name = "Net-Cotisations"
path_prefix = "nc"
upstreams = ["127.0.0.1:9005"]
[[apps]]
slug = "bip2"
name = "BIP again"
host = "bip.example.fr"
path_prefix = "/"
upstreams = ["127.0.0.1:9006"]
[[apps]]
slug = "bip3"
name = "BIP twice"
host = "bip.example.fr"
upstreams = ["127.0.0.1:9007"]
[[apps]]
slug = "bip"
name = "BIP elsewhere"
host = "bip.example.org"
upstreams = ["127.0.0.1:9008"]
"#;
    let third = r#"
[sessions]
store = "redis"
[mail]
transport = "smtp"
"#;
    let env = [
        ("CONVERGENCES_DATABASE_URL", "x"),
        ("CONVERGENCES_APPS__SLUG", "x"),
        ("CONVERGENCES_SERVER__LISTEN", "x"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let fourth = Config::from_toml("conv.toml", "server = 1", &env)
        .unwrap_err()
        .to_string();
    let got = [err(first), err(second), err(third), fourth].join("\n--\n");
    let want = r##"conv.toml: key `server.listen`: "nowhere" is not an address:port such as "127.0.0.1:8080" or "[::]:443"
conv.toml: key `server.portal_host`: "Auth Example" is not a host name (letters, digits, '-' and '.'; the last label not a number)
conv.toml: key `server.tls.listen`: "everywhere" is not an address:port such as "0.0.0.0:443"
conv.toml: key `server.tls.cert_file`: cannot read /nonexistent/cert.pem: No such file or directory (os error 2)
conv.toml: key `server.tls.key_file`: cannot read /nonexistent/key.pem: No such file or directory (os error 2)
conv.toml: key `server.trusted_proxies[2]`: "proxy" is not an IP address or a CIDR range such as "10.0.0.0/8"
conv.toml: key `server.upstream_ca_file`: cannot read /nonexistent/ca.pem: No such file or directory (os error 2)
conv.toml: key `server.metrics_token`: must be at least 32 printable characters without spaces (generate one with `openssl rand -hex 32`)
conv.toml: key `server.public_url`: "ftp://auth.example.fr" must be an http(s) URL on server.portal_host with no path, e.g. "https://auth example"
conv.toml: key `server.threads`: must be at least 1
conv.toml: key `server.log_format`: "xml" is not one of "text", "json"
conv.toml: key `database.url`: must start with sqlite:, postgres:// or postgresql://
conv.toml: key `database.max_connections`: must be at least 1
conv.toml: key `sessions.store`: "memcached" is not one of "memory", "redis"
conv.toml: key `sessions.cookie_name`: "bad name" must be letters, digits, '_' or '-'
conv.toml: key `sessions.app_cookie_name`: "bad name" must be letters, digits, '_' or '-'
conv.toml: key `sessions.app_cookie_name`: must differ from sessions.cookie_name
conv.toml: key `sessions.cookie_domain`: "other.fr" must be a domain that contains server.portal_host (auth example)
conv.toml: key `sessions.idle_timeout_seconds`: must be at least 1
conv.toml: key `assertion.ttl_seconds`: must be between 1 and 3600
conv.toml: key `security.secret`: must be at least 32 characters (generate one with `openssl rand -hex 32`)
conv.toml: key `security.login_max_delay_seconds`: must be at least security.login_delay_seconds, which must be at least 1
conv.toml: key `security.attempts_per_ip_per_minute`: must be at least 1
conv.toml: key `security.identity_provider_starts_per_ip_per_minute`: must be at least 1
conv.toml: key `security.link_ttl_hours`: must be between 1 and 720
conv.toml: key `mail.from`: "not an address" is not an address such as "Convergences <no-reply@example.fr>"
conv.toml: key `mail.smtp_security`: "ssl" is not one of "starttls", "tls", "none"
conv.toml: key `mail.smtp_host`: is required when mail.transport = "smtp"
conv.toml: key `mail.smtp_password`: mail.smtp_username and mail.smtp_password go together
conv.toml: key `audit.retention_days`: must be at least 1
conv.toml: key `reminders.hour`: must be between 0 and 23
conv.toml: key `reminders.expiring_within_days`: reminder periods must be at least one day
conv.toml: key `apps[0].slug`: "BIP!" must be lower-case letters, digits, '-' or '_'
conv.toml: key `apps[0].name`: must not be empty
conv.toml: key `apps[0].host`: an application needs a host, a path_prefix, or both
conv.toml: key `apps[0].upstreams`: needs at least one "host:port"
conv.toml: key `apps[0].roles[1]`: "Chef" must be lower-case letters, digits, '-' or '_'
conv.toml: key `apps[0].roles`: must include "administrateur" (the role that delegates the application)
conv.toml: key `apps[0].headers.user`: "bad header" is not a valid header name
conv.toml: key `apps[0].headers.name`: "X-Convergences-User-Id" is used twice
conv.toml: key `apps[0].connect_timeout_ms`: must be at least 1
conv.toml: key `apps[0].read_timeout_ms`: must be at least 1
--
conv.toml: key `sessions.redis_url`: must start with redis:// or rediss://
conv.toml: key `sessions.app_cookie_name`: must differ from sessions.cookie_name
conv.toml: key `sessions.absolute_timeout_seconds`: must be at least sessions.idle_timeout_seconds
conv.toml: key `mail.transport`: "pigeon" is not one of "outbox", "smtp"
conv.toml: key `resilience.session_store_timeout_ms`: must be between 10 and 60000
conv.toml: key `resilience.directory_timeout_ms`: must be between 10 and 60000
conv.toml: key `resilience.probe_interval_ms`: must be between 10 and 60000
conv.toml: key `resilience.retry_after_seconds`: must be between 1 and 3600
conv.toml: key `resilience.failures_to_open`: must be at least 1
conv.toml: key `resilience.max_waiting`: must be at least 1
conv.toml: key `resilience.max_connections`: must be at least 1
conv.toml: key `resilience.max_requests`: must be at least 1
conv.toml: key `resilience.directory_grace_seconds`: must be at most 3600 (0 turns the degraded mode off)
conv.toml: key `apps[1].upstreams[1]`: "bip:80x" is not a reachable "host:port" (name did not resolve or port missing)
conv.toml: key `apps[1].roles[1]`: "administrateur" is listed twice
conv.toml: key `apps[2].host`: is the portal host: give the application a path_prefix or another host
conv.toml: key `apps[3].path_prefix`: "/aia/x" is reserved by the portal
conv.toml: key `apps[4].path_prefix`: "nc" must look like "/bip"
conv.toml: key `apps[5].path_prefix`: "/" must look like "/bip"
conv.toml: key `apps[6]`: host "bip.example.fr" with path prefix "" is already used by another application
conv.toml: key `apps[7].slug`: "bip" is declared twice
--
conv.toml: key `sessions.redis_url`: is required when sessions.store = "redis" (e.g. "redis://127.0.0.1:6379")
conv.toml: key `mail.smtp_host`: is required when mail.transport = "smtp"
--
conv.toml: key `CONVERGENCES_DATABASE_URL`: environment overrides take the form CONVERGENCES_SECTION__KEY (e.g. CONVERGENCES_DATABASE__URL)
conv.toml: key `CONVERGENCES_APPS__SLUG`: [[apps]] cannot be set from the environment
conv.toml: key `server`: is not a table, so CONVERGENCES_SERVER__LISTEN cannot override a key in it"##;
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn identity_providers_are_checked_key_by_key() {
    let text = r#"
[[identity_providers]]
slug = "Pro Connect"
name = ""
issuer = "http://idp.example.fr"
client_id = ""
pkce = false
scopes = ["email", "bad scope"]
token_endpoint_auth_method = "private_key_jwt"
timeout_seconds = 0
[identity_providers.siret_structures]
"123" = 4
[[identity_providers]]
slug = "ok"
name = "OK"
issuer = "https://idp.example.fr/?x=1"
client_id = "c"
client_secret = ""
"#;
    let got = Config::from_toml("conv.toml", text, &[])
        .unwrap_err()
        .to_string();
    let want = r#"conv.toml: key `identity_providers[0].slug`: "Pro Connect" must be 1-64 characters among a-z, 0-9, '-' and '_'
conv.toml: key `identity_providers[0].name`: must be 1-60 characters
conv.toml: key `identity_providers[0].issuer`: "http://idp.example.fr" must use https:// (http:// only on a loopback address)
conv.toml: key `identity_providers[0].client_id`: must be given (1-512 characters)
conv.toml: key `identity_providers[0].pkce`: a provider without client_secret needs pkce = true (nothing else would prove the token request comes from this gateway)
conv.toml: key `identity_providers[0].scopes`: must contain "openid"
conv.toml: key `identity_providers[0].scopes`: "bad scope" must be 1-128 printable ASCII characters without spaces or quotes
conv.toml: key `identity_providers[0].siret_structures`: "123" is not a SIRET (14 digits)
conv.toml: key `identity_providers[0].token_endpoint_auth_method`: "private_key_jwt" is not one of "client_secret_post", "client_secret_basic"
conv.toml: key `identity_providers[0].timeout_seconds`: must be between 1 and 60
conv.toml: key `identity_providers[1].issuer`: "https://idp.example.fr/?x=1" must have no query, fragment or user name
conv.toml: key `identity_providers[1].client_secret`: must not be empty (leave it out for a public client)"#;
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn a_provider_secret_comes_from_the_environment() {
    let text = r#"
[[identity_providers]]
slug = "pro-connect"
name = "ProConnect"
issuer = "http://127.0.0.1:4000"
client_id = "c"
"#;
    let env = [(
        "CONVERGENCES_IDENTITY_PROVIDERS__PRO_CONNECT__CLIENT_SECRET".to_string(),
        "from-env".to_string(),
    )];
    let c = Config::from_toml("conv.toml", text, &env).unwrap();
    let p = &c.identity_providers[0];
    assert_eq!(
        p.client_secret.as_ref().map(|s| s.0.as_str()),
        Some("from-env")
    );
    assert!(p.pkce && !p.secret_basic && !p.trust_email && !p.create_accounts);
    assert_eq!(p.scopes, ["openid", "email", "profile"]);
    assert!(
        !format!("{c:?}").contains("from-env"),
        "secrets stay out of Debug"
    );
    let env = [(
        "CONVERGENCES_IDENTITY_PROVIDERS__OTHER__CLIENT_SECRET".to_string(),
        "x".to_string(),
    )];
    let err = Config::from_toml("conv.toml", text, &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "conv.toml: key `CONVERGENCES_IDENTITY_PROVIDERS__OTHER__CLIENT_SECRET`: no [[identity_providers]] entry has the slug \"other\""
    );
}

#[test]
fn support_contacts_are_optional_and_checked_by_key() {
    let c = Config::from_toml("conv.toml", MINIMAL, &[]).unwrap();
    assert!(c.support.is_empty());
    assert_eq!(c.apps[0].support, None);
    assert_eq!(c.structures_max_depth, 2);

    let full = format!(
        "{MINIMAL}support_email = \"BIP@Example.fr\"\n\n[support]\napplications_email = \"aide@example.fr\"\ncorrespondent_email = \"cig@example.fr\"\ndpo_email = \"dpo@example.fr\"\ndpo_label = \"DPO du CIG\"\nguide_url = \"https://example.fr/guide\"\n\n[structures]\nmax_depth = 3\n"
    );
    let c = Config::from_toml("conv.toml", &full, &[]).unwrap();
    let own = c.apps[0].support.as_ref().unwrap();
    assert_eq!(own.label, "Assistance BIP");
    assert_eq!(own.email, "BIP@Example.fr");
    assert_eq!(
        c.support.applications.as_ref().unwrap().label,
        "Assistance des applications"
    );
    assert_eq!(
        c.support.correspondent.as_ref().unwrap().email,
        "cig@example.fr"
    );
    assert_eq!(c.support.dpo.as_ref().unwrap().label, "DPO du CIG");
    assert_eq!(
        c.support.guide_url.as_deref(),
        Some("https://example.fr/guide")
    );
    assert_eq!(c.structures_max_depth, 3);

    let bad = format!(
        "{MINIMAL}support_email = \"nobody\"\n\n[support]\napplications_email = \"a b@example.fr\"\ncorrespondent_email = \"cig@example.fr\"\ncorrespondent_label = \" \"\ndpo_email = \"dpo@\"\nguide_url = \"javascript:alert(1)\"\n\n[structures]\nmax_depth = 0\n"
    );
    let e = err(&bad);
    for expected in [
        "key `support.applications_email`: \"a b@example.fr\" is not an e-mail address",
        "key `support.correspondent_label`: must be a non-empty line of text",
        "key `support.dpo_email`: \"dpo@\" is not an e-mail address",
        "key `support.guide_url`: \"javascript:alert(1)\" must be an absolute http:// or https:// URL",
        "key `structures.max_depth`: must be between 1 and 32",
        "key `apps[0].support_email`: \"nobody\" is not an e-mail address",
    ] {
        assert!(e.contains(expected), "{expected} missing from {e}");
    }
}

#[test]
fn times_are_shown_in_a_checked_time_zone_paris_by_default() {
    let c = Config::from_toml("conv.toml", MINIMAL, &[]).unwrap();
    assert_eq!(c.time_zone.iana_name(), Some("Europe/Paris"));
    let other = format!("{MINIMAL}\n[display]\ntime_zone = \"America/Cayenne\"\n");
    let c = Config::from_toml("conv.toml", &other, &[]).unwrap();
    assert_eq!(c.time_zone.iana_name(), Some("America/Cayenne"));
    let e = err(&format!("{MINIMAL}\n[display]\ntime_zone = \"Paris\"\n"));
    assert!(
        e.contains("key `display.time_zone`: \"Paris\" is not a known time zone"),
        "{e}"
    );
    let e = err(&format!("{MINIMAL}\n[display]\ntime_zone = \"+01:00\"\n"));
    assert!(e.contains("key `display.time_zone`"), "{e}");
}

#[test]
fn the_legal_pages_settings_are_checked_by_key() {
    let c = Config::from_toml("conv.toml", MINIMAL, &[]).unwrap();
    assert_eq!(c.support.legal.compliance, super::Compliance::NonConforme);
    assert_eq!(c.support.legal.publisher, None);
    assert!(c.support.is_empty(), "legal notices are not help contacts");

    let full = format!(
        "{MINIMAL}\n[legal]\npublisher = \" CIG d'Exemple \"\npublication_director = \"C. Exemple\"\nhost = \"Hébergeur\"\naccessibility_status = \"partiellement_conforme\"\naccessibility_rate = 72\naccessibility_audit_date = \"2026-06-15\"\naccessibility_audit_method = \"Audit RGAA 4.1, 12 pages\"\naccessibility_contact_email = \"a11y@example.fr\"\n"
    );
    let c = Config::from_toml("conv.toml", &full, &[]).unwrap();
    let l = &c.support.legal;
    assert_eq!(l.publisher.as_deref(), Some("CIG d'Exemple"));
    assert_eq!(l.compliance.label(), "partiellement conforme");
    assert_eq!(l.rate, Some(72));
    assert_eq!(l.audit.as_ref().unwrap().date, "15/06/2026");
    assert_eq!(l.accessibility_contact.as_deref(), Some("a11y@example.fr"));

    // A status better than "non conforme" without an audit, a rate that contradicts the
    // status, and malformed values: each named by its key.
    let e = err(&format!(
        "{MINIMAL}\n[legal]\naccessibility_status = \"totalement_conforme\"\naccessibility_rate = 90\npublisher = \"a\\nb\"\naccessibility_statement_date = \"30/11/2026\"\naccessibility_contact_email = \"nobody\"\n"
    ));
    for expected in [
        "key `legal.publisher`: must be a single line of text",
        "key `legal.accessibility_statement_date`: \"30/11/2026\" must be a date written YYYY-MM-DD",
        "key `legal.accessibility_rate`: 90 % does not match accessibility_status",
        "key `legal.accessibility_audit_date`: required when accessibility_status is",
        "key `legal.accessibility_contact_email`: \"nobody\" is not an e-mail address",
    ] {
        assert!(e.contains(expected), "{expected} missing from {e}");
    }
    let e = err(&format!(
        "{MINIMAL}\n[legal]\naccessibility_status = \"conforme\"\n"
    ));
    assert!(
        e.contains("key `legal.accessibility_status`: \"conforme\" must be one of"),
        "{e}"
    );
}
