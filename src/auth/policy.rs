//! Password policy (docs/security.md#passwords), after the CNIL recommendation for
//! password-only authentication (délibération 2022-100): about 80 bits of entropy, reached by
//! one of
//! - 12 characters mixing upper case, lower case, digits and special characters,
//! - 14 characters mixing upper case, lower case and digits,
//! - 16 characters mixing upper and lower case,
//! - 20 characters (a passphrase),
//!
//! and never the user's name, first name or e-mail, nor a well-known password.

/// Frequent passwords and bases that pass the length rules yet are the first an attacker tries.
const COMMON: &[&str] = &[
    "motdepasse",
    "password",
    "azertyuiop",
    "qwertyuiop",
    "123456789",
    "0123456789",
    "soleil",
    "bonjour",
    "doudou",
    "loulou",
    "marseille",
    "chouchou",
    "nicolas",
    "jetaime",
    "iloveyou",
    "admin",
    "administrateur",
    "convergences",
    "azerty",
    "qwerty",
    "abcdef",
    "motdepasse123",
    "welcome",
    "bienvenue",
    "changeme",
    "secret",
    "mairie",
    "printemps",
    "automne",
    "hiver",
];

/// Problems with a candidate password, as French sentences; empty when it is acceptable.
pub fn check(password: &str, first_name: &str, last_name: &str, email: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let len = password.chars().count();
    let upper = password.chars().any(|c| c.is_uppercase());
    let lower = password.chars().any(|c| c.is_lowercase());
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let special = password.chars().any(|c| !c.is_alphanumeric());
    let classes = [upper, lower, digit, special]
        .iter()
        .filter(|b| **b)
        .count();
    let strong_enough = (len >= 12 && classes == 4)
        || (len >= 14 && upper && lower && digit)
        || (len >= 16 && upper && lower)
        || len >= 20;
    if len > 128 {
        problems.push("Le mot de passe ne doit pas dépasser 128 caractères.".to_string());
    } else if !strong_enough {
        if len < 12 {
            problems.push(format!(
                "Le mot de passe doit contenir au moins 12 caractères (il en contient {len})."
            ));
        }
        let mut missing = Vec::new();
        if !upper {
            missing.push("une majuscule");
        }
        if !lower {
            missing.push("une minuscule");
        }
        if !digit {
            missing.push("un chiffre");
        }
        if !special {
            missing.push("un caractère spécial");
        }
        if !missing.is_empty() {
            problems.push(format!("Il manque {}.", join_fr(&missing)));
        }
        problems
            .push("Sinon, choisissez une phrase de passe d'au moins 20 caractères.".to_string());
    }
    let folded = fold(password);
    let mut personal: Vec<String> = vec![fold(first_name), fold(last_name)];
    if let Some(local) = email.split('@').next() {
        personal.push(fold(local));
        personal.extend(local.split(['.', '-', '_']).map(fold));
    }
    if personal
        .iter()
        .any(|p| p.chars().count() >= 3 && folded.contains(p.as_str()))
    {
        problems.push(
            "Le mot de passe ne doit contenir ni votre nom, ni votre prénom, ni votre adresse e-mail."
                .to_string(),
        );
    }
    let stripped: String = folded.chars().filter(|c| c.is_alphanumeric()).collect();
    let base: String = stripped
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_string();
    if COMMON.iter().any(|c| stripped == *c || base == *c) {
        problems.push("Ce mot de passe est trop courant : choisissez-en un autre.".to_string());
    }
    problems
}

fn join_fr(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} et {}", init.join(", "), last),
    }
}

/// Lower case without accents, so "Éloïse" matches "eloise".
fn fold(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_the_cnil_combinations() {
        assert!(check("Convergences-Demo-2026!", "Ada", "Lovelace", "ada@x.fr").is_empty());
        assert!(check("Tr0mbone!Bleu", "Ada", "Lovelace", "ada@x.fr").is_empty());
        assert!(check("Tr0mboneBleuVert", "Ada", "Lovelace", "ada@x.fr").is_empty());
        assert!(check("TromboneBleuVertX", "Ada", "Lovelace", "ada@x.fr").is_empty());
        assert!(check("le trombone bleu du lundi", "Ada", "Lovelace", "ada@x.fr").is_empty());
    }

    #[test]
    fn says_what_is_missing() {
        let p = check("court", "Ada", "Lovelace", "ada@x.fr");
        assert!(
            p[0].contains("au moins 12 caractères (il en contient 5)"),
            "{p:?}"
        );
        assert!(
            p[1].contains("une majuscule, un chiffre et un caractère spécial"),
            "{p:?}"
        );
        let p = check("tromboneetpiano!", "Ada", "Lovelace", "ada@x.fr");
        assert!(
            p.iter().any(|m| m.contains("une majuscule et un chiffre")),
            "{p:?}"
        );
    }

    #[test]
    fn refuses_personal_and_common_passwords() {
        let p = check("Lovelace-2026!x", "Ada", "Lovelace", "ada.lovelace@x.fr");
        assert!(p.iter().any(|m| m.contains("ni votre nom")), "{p:?}");
        let p = check("Éloïse-2026!abc", "Éloïse", "Martin", "e.martin@x.fr");
        assert!(p.iter().any(|m| m.contains("ni votre nom")), "{p:?}");
        let p = check("Motdepasse123!", "Ada", "Lovelace", "ada@x.fr");
        assert!(p.iter().any(|m| m.contains("trop courant")), "{p:?}");
    }
}
