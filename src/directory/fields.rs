//! Field rules for accounts and structures, with the French messages shown next to the
//! fields: the AIA forms and the CSV import check the same fields the same way, so they live
//! here, under both (bad input gets a clear message and changes nothing:
//! docs/security.md#input-and-uploads, docs/product.md#accounts). Pure functions, unit-tested.

/// Errors of a form or of an imported line: (field name, French message), in field order; one
/// message per field, the first found.
#[derive(Clone, Debug, Default)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, msg: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, msg.into()));
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Longest text accepted in a single-line field.
pub const MAX_TEXT: usize = 200;

/// Trims and checks a text field: length and no control characters.
pub fn text(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &str,
    required: bool,
    max: usize,
) -> String {
    let v = value.trim().to_string();
    if required && v.is_empty() {
        errors.add(field, "Ce champ est obligatoire.");
    } else if v.chars().count() > max {
        errors.add(field, format!("{max} caractères au maximum."));
    } else if v.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        errors.add(field, "Ce champ contient des caractères non autorisés.");
    }
    v
}

/// E-mail syntax: one '@', a non-empty local part and a domain of dot-separated labels.
pub fn email_syntax_ok(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// The domain part of an address, lower-cased.
pub fn domain_of(email: &str) -> String {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Domain names typed by platform admins ("mairie.fr, ccas.mairie.fr").
pub fn parse_domains(errors: &mut FieldErrors, field: &'static str, raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    for d in raw
        .split([',', ';', ' ', '\n', '\r'])
        .filter(|d| !d.is_empty())
    {
        let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
        if email_syntax_ok(&format!("x@{d}")) {
            if !out.contains(&d) {
                out.push(d);
            }
        } else {
            errors.add(
                field,
                format!("« {d} » n'est pas un nom de domaine valide."),
            );
        }
    }
    out
}

/// French or international phone numbers: "01 23 45 67 89", "01.23.45.67.89", "+33 1 23 45 67 89".
pub fn phone_ok(phone: &str) -> bool {
    let compact: String = phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    if phone
        .chars()
        .any(|c| !(c.is_ascii_digit() || " .-()+".contains(c)))
    {
        return false;
    }
    if let Some(rest) = compact.strip_prefix('+') {
        (8..=15).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_digit())
    } else {
        compact.len() == 10
            && compact.starts_with('0')
            && compact.chars().all(|c| c.is_ascii_digit())
    }
}

/// An optional date "YYYY-MM-DD" (what `<input type="date">` sends).
pub fn date(errors: &mut FieldErrors, field: &'static str, raw: &str) -> Option<String> {
    let v = raw.trim();
    if v.is_empty() {
        return None;
    }
    // Exactly AAAA-MM-JJ: `time` would also take a signed or five-digit year, which would be
    // stored in another form and compare wrongly with real dates.
    let b = v.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(v, &fmt).ok().filter(|_| shaped).ok_or(()) {
        Ok(d) => Some(format!(
            "{:04}-{:02}-{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        )),
        Err(_) => {
            errors.add(field, "Saisissez une date valide au format AAAA-MM-JJ.");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_exactly_four_two_two_digits() {
        for bad in [
            "-0017-01-01",
            "+1013-02-28",
            "10000-01-01",
            "2026-1-01",
            "2026-02-30",
        ] {
            let mut e = FieldErrors::default();
            assert_eq!(date(&mut e, "d", bad), None, "{bad}");
            assert!(!e.is_empty(), "{bad}");
        }
        let mut e = FieldErrors::default();
        assert_eq!(
            date(&mut e, "d", " 2026-02-28 ").as_deref(),
            Some("2026-02-28")
        );
    }

    #[test]
    fn emails() {
        assert!(email_syntax_ok("agent.x@mairie-exemple.fr"));
        for bad in [
            "",
            "a",
            "a@b",
            "a b@c.fr",
            "@c.fr",
            "a@-c.fr",
            "a@@c.fr",
            "a..b@c.fr",
        ] {
            assert!(!email_syntax_ok(bad), "{bad}");
        }
        assert_eq!(domain_of("A@Mairie.FR"), "mairie.fr");
    }

    #[test]
    fn phones() {
        for ok in [
            "01 23 45 67 89",
            "01.23.45.67.89",
            "+33 1 23 45 67 89",
            "0612345678",
        ] {
            assert!(phone_ok(ok), "{ok}");
        }
        for bad in ["12", "01 23 45 67 8", "abc", "06123456789", "+33 1 23 x"] {
            assert!(!phone_ok(bad), "{bad}");
        }
    }

    #[test]
    fn dates_and_texts() {
        let mut e = FieldErrors::default();
        assert_eq!(
            date(&mut e, "d", "2026-02-28").as_deref(),
            Some("2026-02-28")
        );
        assert!(e.is_empty());
        assert_eq!(date(&mut e, "d", "2026-02-30"), None);
        assert!(e.get("d").is_some());
        let mut e = FieldErrors::default();
        assert_eq!(text(&mut e, "n", "  x ", true, 5), "x");
        text(&mut e, "m", "", true, 5);
        text(&mut e, "o", "abcdef", false, 5);
        assert_eq!(e.get("m"), Some("Ce champ est obligatoire."));
        assert!(e.get("o").is_some());
        let mut e = FieldErrors::default();
        assert_eq!(
            parse_domains(&mut e, "d", "Mairie.fr, @ccas.fr;mairie.fr"),
            vec!["mairie.fr".to_string(), "ccas.fr".to_string()]
        );
        parse_domains(&mut e, "d", "pas un domaine");
        assert!(e.get("d").is_some());
    }
}
