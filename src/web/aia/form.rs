//! Field checks shared by the AIA forms, with the French messages shown next to the fields
//! (bad input gets a clear message and changes nothing: docs/security.md#input-and-uploads).
//! The account and structure field rules are the directory's (`directory::fields`), shared
//! with the CSV import; what is left here reads HTML forms.

pub use crate::directory::fields::{
    date, domain_of, email_syntax_ok, parse_domains, phone_ok, text, FieldErrors, MAX_TEXT,
};

/// Unix seconds at the start of a "YYYY-MM-DD" day in `tz` (with `next`, of the day after:
/// a day lasts 23 or 25 hours when the clocks change).
pub fn day_start(d: &str, tz: &jiff::tz::TimeZone, next: bool) -> Option<i64> {
    let mut day: jiff::civil::Date = d.trim().parse().ok()?;
    if next {
        day = day.tomorrow().ok()?;
    }
    day.to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// A checkbox is checked when it is sent with any value.
pub fn checked(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

/// Values of a repeated field (`ids=1&ids=2`) from a pairs form, as numbers.
pub fn ids(pairs: &[(String, String)], name: &str) -> Vec<i64> {
    let mut out: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .filter_map(|(_, v)| v.trim().parse().ok())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The first value of a field in a pairs form.
pub fn first<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The French label of a form field, for the error summary above a refused form: "Nom : Ce
/// champ est obligatoire." rather than the same message three times (docs/aia.md).
pub fn label_of(field: &str) -> &'static str {
    match field {
        "last_name" => "Nom",
        "first_name" => "Prénom",
        "email" => "Adresse e-mail",
        "structure_id" => "Structure d'appartenance",
        "job_title" => "Fonction",
        "service" => "Service",
        "phone" => "Numéro de téléphone",
        "app_identifier" => "Identifiant applicatif",
        "valid_from" => "Date de début de validité du compte",
        "valid_until" => "Date de fin de validité du compte",
        "postal_address" => "Adresse postale",
        "locked" => "Verrouillage du compte",
        "photo" => "Photo",
        "short_name" => "Nom de la structure",
        "long_name" => "Nom long de la structure",
        "parent_id" => "Structure de rattachement",
        "domains" => "Domaines autorisés",
        _ => "",
    }
}
