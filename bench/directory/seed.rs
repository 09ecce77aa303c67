//! Set-based seeding of the benchmark directory: 5 000 structures (1 000 principal
//! establishments with 4 attached structures each), 100 000 accounts and 300 000 role
//! assignments, each table filled by one `INSERT ... SELECT` over a recursive counter (the same
//! SQL on SQLite and PostgreSQL).
//!
//! Ids are explicit so that the measuring code knows them without asking:
//! - principal establishment k (1..=1000): structure `1000 + k`, path `/<1000+k>/`, domain
//!   `commune<k>.fr`;
//! - its attached structure n (1..=4): structure `2000 + 4 (k - 1) + n`, path
//!   `/<1000+k>/<id>/`, same domain;
//! - account i (1..=100 000): user `1000 + i`, in establishment k = 1 for i ≤ 20 000 ("A", the
//!   large one), k = 2 for i ≤ 30 000 ("B", 10 000 accounts), else one of the 998 others
//!   (about 70 each); in the principal structure when i % 5 = 0, else in attached structure
//!   i % 5;
//! - the first account of every establishment is its référent (A: user 1001, B: user 21001).

use convergences::directory::{Backend, Directory};
use std::time::Instant;

pub const ESTABLISHMENTS: i64 = 1000;
pub const ATTACHED_PER_ESTABLISHMENT: i64 = 4;
pub const ACCOUNTS: i64 = 100_000;
/// Accounts of establishment A (structure 1001) and B (structure 1002), and A itself.
pub const A_ACCOUNTS: i64 = 20_000;
pub const B_ACCOUNTS: i64 = 10_000;
pub const A_STRUCTURE: i64 = 1001;
/// Référents (the first account of A and of B).
pub const A_REFERENT: i64 = 1001;
pub const B_REFERENT: i64 = 1000 + A_ACCOUNTS + 1;
/// First and last seeded user ids.
pub const FIRST_USER: i64 = 1001;
pub const LAST_USER: i64 = 1000 + ACCOUNTS;

const LAST_NAMES: [&str; 32] = [
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
    "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent",
    "Muller", "Lefevre", "Faure", "Andre", "Mercier", "Blanc",
];
const FIRST_NAMES: [&str; 24] = [
    "Marie",
    "Jean",
    "Pierre",
    "Michel",
    "Nathalie",
    "Isabelle",
    "Sylvie",
    "Catherine",
    "Philippe",
    "Alain",
    "Nicolas",
    "Christophe",
    "Sophie",
    "Sandrine",
    "Julien",
    "Camille",
    "Lea",
    "Thomas",
    "Manon",
    "Hugo",
    "Chloe",
    "Lucas",
    "Emma",
    "Louis",
];
const JOBS: [&str; 8] = [
    "Gestionnaire carrières",
    "Gestionnaire paie",
    "Agent administratif",
    "Responsable RH",
    "Assistant de direction",
    "Agent technique",
    "Comptable",
    "Directeur général des services",
];
const SERVICES: [&str; 6] = [
    "Ressources humaines",
    "Finances",
    "Services techniques",
    "Affaires scolaires",
    "État civil",
    "Direction générale",
];
const ATTACHED: [&str; 4] = ["ccas", "services-techniques", "ecoles", "creche"];

/// `CASE (<expr>) WHEN 0 THEN 'a' WHEN 1 THEN 'b' ... END`
fn pick(expr: &str, list: &[&str]) -> String {
    let mut s = format!("CASE ({expr})");
    for (n, v) in list.iter().enumerate() {
        s.push_str(&format!(" WHEN {n} THEN '{}'", v.replace('\'', "''")));
    }
    s.push_str(" END");
    s
}

/// What was seeded, counted back from the database.
pub struct Seeded {
    pub structures: i64,
    pub domains: i64,
    pub users: i64,
    pub assignments: i64,
    pub referents: i64,
    pub seconds: f64,
    pub steps: Vec<(String, f64)>,
}

async fn exec(dir: &Directory, steps: &mut Vec<(String, f64)>, name: &str, sql: String) {
    let t = Instant::now();
    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&dir.pool)
        .await
        .unwrap_or_else(|e| panic!("seeding step {name}: {e}\n{sql}"));
    steps.push((name.to_string(), t.elapsed().as_secs_f64()));
}

async fn count(dir: &Directory, sql: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&dir.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get::<i64, _>(0)
        .expect("count")
}

/// Seeds the directory (after `convergences::demo::seed`, whose ids stay below 1000) and gives
/// the two référents of A and B the demo password.
pub async fn seed(dir: &Directory) -> Seeded {
    let started = Instant::now();
    let mut steps = Vec::new();
    let e = ESTABLISHMENTS;
    let per = ATTACHED_PER_ESTABLISHMENT;
    exec(
        dir,
        &mut steps,
        "structures (principal)",
        format!(
            "INSERT INTO structures (id, path, short_name, long_name, postal_address, created_at, updated_at) \
             WITH RECURSIVE cnt(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM cnt WHERE k < {e}) \
             SELECT 1000 + k, '/' || (1000 + k) || '/', 'commune-' || k, 'Mairie de la commune ' || k, \
             k || ' place de la Mairie', 0, 0 FROM cnt"
        ),
    )
    .await;
    let attached = pick("(j - 1) % 4", &ATTACHED);
    exec(
        dir,
        &mut steps,
        "structures (attached)",
        format!(
            "INSERT INTO structures (id, parent_id, path, short_name, long_name, created_at, updated_at) \
             WITH RECURSIVE cnt(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM cnt WHERE j < {n}) \
             SELECT 2000 + j, 1001 + (j - 1) / {per}, '/' || (1001 + (j - 1) / {per}) || '/' || (2000 + j) || '/', \
             {attached}, {attached} || ' de la commune ' || (1 + (j - 1) / {per}), 0, 0 FROM cnt",
            n = e * per
        ),
    )
    .await;
    exec(
        dir,
        &mut steps,
        "structure_domains",
        "INSERT INTO structure_domains (structure_id, domain) \
         SELECT id, 'commune' || (CASE WHEN parent_id IS NULL THEN id ELSE parent_id END - 1000) || '.fr' \
         FROM structures WHERE id > 1000"
            .to_string(),
    )
    .await;
    let last = pick("i % 32", &LAST_NAMES);
    let first = pick("(i / 32) % 24", &FIRST_NAMES);
    let job = pick("i % 8", &JOBS);
    let service = pick("(i / 8) % 6", &SERVICES);
    let (a, b) = (A_ACCOUNTS, A_ACCOUNTS + B_ACCOUNTS);
    let others = e - 2;
    exec(
        dir,
        &mut steps,
        "users",
        format!(
            "INSERT INTO users (id, uid, email, last_name, first_name, structure_id, job_title, service, \
             phone, telework, valid_until, locked, last_login_at, created_at, updated_at) \
             WITH RECURSIVE cnt(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM cnt WHERE i < {ACCOUNTS}), \
             p AS (SELECT i, CASE WHEN i <= {a} THEN 1 WHEN i <= {b} THEN 2 ELSE 3 + (i - {b} - 1) % {others} END AS k, \
             {last} AS ln, {first} AS fn FROM cnt) \
             SELECT 1000 + i, 'bench-' || i, LOWER(fn) || '.' || LOWER(ln) || '.' || i || '@commune' || k || '.fr', \
             ln, fn, CASE WHEN i % 5 = 0 THEN 1000 + k ELSE 2000 + (k - 1) * {per} + i % 5 END, \
             {job}, {service}, '01 ' || (10000000 + i), CASE WHEN i % 3 = 0 THEN 1 ELSE 0 END, \
             CASE WHEN i % 50 = 0 THEN '2027-06-30' ELSE NULL END, CASE WHEN i % 200 = 0 THEN 1 ELSE 0 END, \
             CASE WHEN i % 4 = 0 THEN NULL ELSE 1763000000 + i * 7 END, 1700000000, 1700000000 FROM p"
        ),
    )
    .await;
    // Three assignments per account: BIP (utilisateur, or gestionnaire for one in four),
    // Net-Cotisations (utilisateur, or déclarant for one in three), and either AGIRHE
    // utilisateur or CNRACL gestionnaire; on behalf of the account's structure.
    let users = format!("u.id BETWEEN {FIRST_USER} AND {LAST_USER}");
    for (name, app, role) in [
        (
            "role_assignments (bip)",
            "'bip'",
            "CASE WHEN u.id % 4 = 0 THEN 'gestionnaire' ELSE 'utilisateur' END",
        ),
        (
            "role_assignments (netcotisations)",
            "'netcotisations'",
            "CASE WHEN u.id % 3 = 0 THEN 'declarant' ELSE 'utilisateur' END",
        ),
        (
            "role_assignments (agirhe/cnracl)",
            "CASE WHEN u.id % 2 = 0 THEN 'agirhe' ELSE 'cnracl' END",
            "CASE WHEN u.id % 2 = 0 THEN 'utilisateur' ELSE 'gestionnaire' END",
        ),
    ] {
        exec(
            dir,
            &mut steps,
            name,
            format!(
                "INSERT INTO role_assignments (user_id, role_id, structure_id, created_at) \
                 SELECT u.id, r.id, u.structure_id, 1700000000 FROM users u \
                 JOIN applications a ON a.slug = {app} \
                 JOIN app_roles r ON r.app_id = a.id AND r.name = {role} WHERE {users}"
            ),
        )
        .await;
    }
    // The first account of each establishment is its référent.
    exec(
        dir,
        &mut steps,
        "referents",
        format!(
            "INSERT INTO referents (user_id, structure_id, created_at) \
             SELECT MIN(u.id), CASE WHEN s.parent_id IS NULL THEN s.id ELSE s.parent_id END, 1700000000 \
             FROM users u JOIN structures s ON s.id = u.structure_id WHERE {users} \
             GROUP BY CASE WHEN s.parent_id IS NULL THEN s.id ELSE s.parent_id END"
        ),
    )
    .await;
    exec(
        dir,
        &mut steps,
        "référent passwords",
        format!(
            "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE email = 'referent@mairie-exemple.fr') \
             WHERE id IN ({A_REFERENT}, {B_REFERENT})"
        ),
    )
    .await;
    // The référent of A administers BIP for its tree (the APPLICATIONS tab): its BIP
    // assignment becomes `administrateur` (the count stays at 3 per account).
    exec(
        dir,
        &mut steps,
        "référent A: bip administrateur",
        format!(
            "UPDATE role_assignments SET role_id = (SELECT r.id FROM app_roles r JOIN applications a \
             ON a.id = r.app_id WHERE a.slug = 'bip' AND r.name = 'administrateur') \
             WHERE user_id = {A_REFERENT} AND role_id IN (SELECT r.id FROM app_roles r JOIN applications a \
             ON a.id = r.app_id WHERE a.slug = 'bip')"
        ),
    )
    .await;
    // Rows inserted in SQL have no search text yet: what the gateway computes at start-up for
    // accounts that predate migration 0004.
    let t = std::time::Instant::now();
    let filled = dir.backfill_search_text().await.expect("search text");
    assert!(
        filled >= ACCOUNTS as u64,
        "search text of {filled} accounts"
    );
    steps.push(("search text".into(), t.elapsed().as_secs_f64()));
    if dir.backend == Backend::Postgres {
        // Explicit ids do not move the identity sequences; and autovacuum would vacuum and
        // analyse the new tables soon after such a load (VACUUM also sets the visibility map
        // that index-only scans rely on).
        for t in ["structures", "users"] {
            exec(
                dir,
                &mut steps,
                &format!("setval {t}"),
                format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT MAX(id) FROM {t}))"
                ),
            )
            .await;
        }
        exec(
            dir,
            &mut steps,
            "VACUUM ANALYZE",
            "VACUUM ANALYZE".to_string(),
        )
        .await;
    } else if std::env::var("BENCH_SQLITE_ANALYZE").is_ok_and(|v| v == "1") {
        exec(dir, &mut steps, "ANALYZE", "ANALYZE".to_string()).await;
    }
    Seeded {
        structures: count(dir, "SELECT COUNT(*) FROM structures").await,
        domains: count(dir, "SELECT COUNT(*) FROM structure_domains").await,
        users: count(dir, "SELECT COUNT(*) FROM users").await,
        assignments: count(dir, "SELECT COUNT(*) FROM role_assignments").await,
        referents: count(dir, "SELECT COUNT(*) FROM referents").await,
        seconds: started.elapsed().as_secs_f64(),
        steps,
    }
}

/// Checks that every seeded structure's path is "/<parent path>/<id>/" (materialised paths
/// consistent with parent_id); returns the number of inconsistent rows (0 expected).
pub async fn inconsistent_paths(dir: &Directory) -> i64 {
    count(
        dir,
        "SELECT COUNT(*) FROM structures c LEFT JOIN structures p ON p.id = c.parent_id \
         WHERE c.path <> CASE WHEN c.parent_id IS NULL THEN '/' || c.id || '/' ELSE p.path || c.id || '/' END",
    )
    .await
}
