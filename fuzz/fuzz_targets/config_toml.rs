//! The TOML configuration: `config::Config::from_toml` on arbitrary UTF-8 (what an operator,
//! or a SIGHUP reload of an edited file, may give it).
//!
//! Properties: never panics; a refusal names the file on its first line; an accepted
//! configuration builds a routing table in which every application is reachable at its own
//! entry and its portal tile URL is accepted as a return URL.
//!
//! Input: the file's text.
#![no_main]

use convergences::config::{Config, ConfigError};
use convergences::proxy::routes::{RouteTable, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::from_toml("fuzz.toml", text, &[]) {
        Ok(c) => c,
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.starts_with("fuzz.toml: "),
                "error without the file name: {m:?}"
            );
            if let ConfigError::Invalid { problems, .. } = &e {
                assert!(!problems.is_empty(), "refused without a reason");
                for line in m.lines().filter(|l| l.starts_with("fuzz.toml: key `")) {
                    assert!(line.contains("`: "), "{line:?}");
                }
            }
            return;
        }
    };
    let routes = RouteTable::new(&config);
    assert_eq!(routes.apps.len(), config.apps.len());
    for (i, app) in config.apps.iter().enumerate() {
        let host = app.host.as_deref().unwrap_or(&config.portal_host);
        let path = format!("{}/", app.path_prefix.as_deref().unwrap_or(""));
        assert_eq!(
            routes.route(host, &path),
            Target::App(i),
            "application {:?} unreachable at {host}{path}",
            app.slug
        );
        let entry = &routes.apps[i].entry_url;
        assert!(
            routes.validate_return(entry).is_some(),
            "the tile URL {entry:?} of {:?} is refused as a return URL",
            app.slug
        );
    }
});
