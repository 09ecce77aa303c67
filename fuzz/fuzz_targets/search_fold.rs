//! Directory search folding (`directory::search::fold`, `needle`, `search_text`): what every
//! search box query and every account's searchable text go through.
//!
//! Properties: never panics on any UTF-8; folding is idempotent; its output has no ASCII upper
//! case and no combining mark; a search for any part of a name finds it (the folded part is in
//! the folded whole); the needle is the folded, trimmed query, from 3 characters.
//!
//! Input: UTF-8 text; split at '\n' into the fields of an account when it has several lines.
#![no_main]

use convergences::directory::search::{fold, needle, search_text};
use libfuzzer_sys::fuzz_target;
use unicode_normalization::char::is_combining_mark;

fn check_folded(s: &str, f: &str) {
    assert!(
        !f.bytes().any(|b| b.is_ascii_uppercase()),
        "fold({s:?}) = {f:?} has upper case"
    );
    if let Some(c) = f.chars().find(|&c| is_combining_mark(c)) {
        panic!(
            "fold({s:?}) = {f:?} keeps the combining mark U+{:04X}",
            c as u32
        );
    }
    let again = fold(f);
    assert_eq!(
        again, f,
        "fold is not idempotent on {s:?}: {f:?} then {again:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let f = fold(s);
    check_folded(s, &f);

    // Any part typed in the search box finds the whole.
    let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    if bounds.len() > 2 {
        let a = bounds[bounds.len() / 3];
        let b = bounds[2 * bounds.len() / 3];
        let part = &s[a..b];
        assert!(
            f.contains(&fold(part)),
            "{part:?} (folded {:?}) not found in {f:?}",
            fold(part)
        );
    }

    // The needle: folded, trimmed, control characters dropped (none can be typed in a search
    // box, and a line break would let a match span two fields), from 3 characters.
    match needle(s, 3) {
        Some(n) => {
            check_folded(s, &n);
            assert!(n.chars().count() >= 3, "{n:?}");
            assert!(
                !n.chars().any(char::is_control),
                "needle {n:?} has a control character"
            );
            if !s.chars().any(char::is_control) {
                assert_eq!(n, fold(s.trim()));
            }
        }
        None => {
            if !s.chars().any(char::is_control) {
                assert!(fold(s.trim()).chars().count() < 3, "{s:?} gave no needle");
            }
        }
    }

    let fields: Vec<&str> = s.splitn(5, '\n').collect();
    let get = |i: usize| fields.get(i).copied().unwrap_or("");
    let t = search_text(get(0), get(1), get(2), get(3), get(4));
    check_folded(s, &t);
    let (last, first) = (get(0).trim(), get(1).trim());
    if !last.contains('\n') && !first.contains('\n') {
        // "dupont jean" and "jean dupont" are both there.
        assert!(t.contains(&fold(&format!("{last} {first}"))), "{t:?}");
        assert!(t.contains(&fold(&format!("{first} {last}"))), "{t:?}");
    }
});
