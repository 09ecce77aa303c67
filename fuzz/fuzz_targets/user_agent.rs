//! User-Agent descriptions (`auth::user_agent::describe`): every session and sign-in shown to a
//! user goes through it, with whatever header the client sent.
//!
//! Properties: never panics on any UTF-8 (woothee's regular expressions included); the browser
//! and the system are never empty, at most 40 characters, without control characters; the
//! label is "<browser> sur <system>"; what comes after the first 512 bytes changes nothing.
//!
//! Input: UTF-8 text, the header's value.
#![no_main]

use convergences::auth::user_agent::describe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let a = describe(s);
    for part in [&a.browser, &a.system] {
        assert!(!part.is_empty(), "{s:?} gave an empty part: {a:?}");
        assert!(part.chars().count() <= 40, "{s:?} gave a long part: {a:?}");
        assert!(
            !part.chars().any(char::is_control),
            "{s:?} gave a control character: {a:?}"
        );
    }
    assert_eq!(a.label(), format!("{} sur {}", a.browser, a.system));
    let mut longer = s.to_string();
    if longer.len() >= 512 {
        longer.push_str(" Firefox/99.0 (Windows NT 10.0)");
        assert_eq!(
            describe(&longer),
            a,
            "bytes past 512 changed the description"
        );
    }
});
