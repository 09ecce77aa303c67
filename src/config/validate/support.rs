//! `[support]`: the help contacts and the user guide shown to users
//! (docs/product.md#help-and-contacts). An address or URL that is set must be usable: a page
//! that sends people to a broken address is worse than none.

use super::Problems;
use crate::config::file::SupportSection;
use crate::config::model::{Contact, Support};
use std::str::FromStr;

pub(super) fn check(s: &SupportSection, p: &mut Problems) -> Support {
    let contact = |email_key: &str,
                   email: &Option<String>,
                   label_key: &str,
                   label: &str,
                   p: &mut Problems| {
        let email = self::email(&format!("support.{email_key}"), email.as_deref(), p)?;
        let label = label.trim();
        if label.is_empty() || label.chars().any(char::is_control) {
            p.add(
                format!("support.{label_key}"),
                "must be a non-empty line of text",
            );
            return None;
        }
        Some(Contact {
            label: label.to_string(),
            email,
        })
    };
    Support {
        applications: contact(
            "applications_email",
            &s.applications_email,
            "applications_label",
            &s.applications_label,
            p,
        ),
        correspondent: contact(
            "correspondent_email",
            &s.correspondent_email,
            "correspondent_label",
            &s.correspondent_label,
            p,
        ),
        dpo: contact("dpo_email", &s.dpo_email, "dpo_label", &s.dpo_label, p),
        guide_url: guide_url(s.guide_url.as_deref(), p),
        legal: Default::default(),
    }
}

/// An e-mail address as it will appear in a `mailto:` link: `None` when not set (or empty).
pub(super) fn email(key: &str, value: Option<&str>, p: &mut Problems) -> Option<String> {
    let v = value?.trim();
    if v.is_empty() {
        return None;
    }
    match lettre::Address::from_str(v) {
        Ok(a) => Some(a.to_string()),
        Err(_) => {
            p.add(key, format!("{v:?} is not an e-mail address"));
            None
        }
    }
}

fn guide_url(value: Option<&str>, p: &mut Problems) -> Option<String> {
    let v = value?.trim();
    if v.is_empty() {
        return None;
    }
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Some(u.to_string())
        }
        _ => {
            p.add(
                "support.guide_url",
                format!("{v:?} must be an absolute http:// or https:// URL"),
            );
            None
        }
    }
}
