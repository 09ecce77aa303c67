//! `[legal]`: the publisher, host and accessibility status shown on the public pages
//! (docs/product.md#public-pages). A status better than "non conforme" must name the audit it
//! rests on, and a rate, when given, must agree with the status (RGAA: 100 % is "totalement
//! conforme", 50 % or more "partiellement conforme"): an automated check alone is not an audit.

use super::Problems;
use crate::config::file::LegalSection;
use crate::config::model::{Audit, Compliance, Legal};

pub(super) fn check(s: &LegalSection, p: &mut Problems) -> Legal {
    let mut text = |key: &str, v: &Option<String>| -> Option<String> {
        let v = v.as_deref()?.trim();
        if v.is_empty() {
            return None;
        }
        if v.chars().any(char::is_control) {
            p.add(format!("legal.{key}"), "must be a single line of text");
            return None;
        }
        Some(v.to_string())
    };
    let publisher = text("publisher", &s.publisher);
    let publisher_address = text("publisher_address", &s.publisher_address);
    let publisher_phone = text("publisher_phone", &s.publisher_phone);
    let publisher_registration = text("publisher_registration", &s.publisher_registration);
    let publication_director = text("publication_director", &s.publication_director);
    let host = text("host", &s.host);
    let host_address = text("host_address", &s.host_address);
    let host_phone = text("host_phone", &s.host_phone);
    let audit_by = text("accessibility_audit_by", &s.accessibility_audit_by);
    let audit_method = text("accessibility_audit_method", &s.accessibility_audit_method);
    let audit_date = date(
        "legal.accessibility_audit_date",
        &s.accessibility_audit_date,
        p,
    );
    let statement_date = date(
        "legal.accessibility_statement_date",
        &s.accessibility_statement_date,
        p,
    );
    let compliance = match s.accessibility_status.trim() {
        "non_conforme" => Compliance::NonConforme,
        "partiellement_conforme" => Compliance::Partial,
        "totalement_conforme" => Compliance::Total,
        other => {
            p.add(
                "legal.accessibility_status",
                format!(
                    "{other:?} must be one of non_conforme, partiellement_conforme, totalement_conforme"
                ),
            );
            Compliance::NonConforme
        }
    };
    let rate = s.accessibility_rate;
    if let Some(r) = rate {
        let agrees = match compliance {
            Compliance::Total => r == 100,
            Compliance::Partial => (50..100).contains(&r),
            Compliance::NonConforme => r < 50,
        };
        if r > 100 {
            p.add("legal.accessibility_rate", "must be a percentage (0-100)");
        } else if !agrees {
            p.add(
                "legal.accessibility_rate",
                format!(
                    "{r} % does not match accessibility_status = {:?} (RGAA: 100 % totalement, 50 % or more partiellement, below 50 % non conforme)",
                    s.accessibility_status.trim()
                ),
            );
        }
    }
    let audit = match (audit_date, audit_method) {
        (Some(date), Some(method)) => Some(Audit {
            date,
            by: audit_by,
            method,
        }),
        (date, method) => {
            if compliance != Compliance::NonConforme {
                let missing = if date.is_none() {
                    "legal.accessibility_audit_date"
                } else {
                    "legal.accessibility_audit_method"
                };
                p.add(
                    missing,
                    "required when accessibility_status is partiellement_conforme or totalement_conforme: the status must rest on an RGAA audit, not on automated checks alone",
                );
            } else if date.is_some() != method.is_some() {
                p.add(
                    "legal.accessibility_audit_method",
                    "accessibility_audit_date and accessibility_audit_method go together",
                );
            }
            None
        }
    };
    let accessibility_contact = super::support::email(
        "legal.accessibility_contact_email",
        s.accessibility_contact_email.as_deref(),
        p,
    );
    Legal {
        publisher,
        publisher_address,
        publisher_phone,
        publisher_registration,
        publication_director,
        host,
        host_address,
        host_phone,
        compliance,
        rate,
        audit,
        statement_date,
        accessibility_contact,
    }
}

/// A "YYYY-MM-DD" key, returned as "JJ/MM/AAAA" for the pages.
fn date(key: &str, v: &Option<String>, p: &mut Problems) -> Option<String> {
    let v = v.as_deref()?.trim();
    if v.is_empty() {
        return None;
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(v, &fmt) {
        Ok(d) => Some(format!(
            "{:02}/{:02}/{}",
            d.day(),
            u8::from(d.month()),
            d.year()
        )),
        Err(_) => {
            p.add(key, format!("{v:?} must be a date written YYYY-MM-DD"));
            None
        }
    }
}
