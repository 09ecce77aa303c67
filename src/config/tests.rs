use super::*;

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
