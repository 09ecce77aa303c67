//! CSV import (`convergences admin import-structures` / `import-users`): `import::import_structures`
//! and `import::import_users` on a scratch SQLite directory (a structure tree, two applications
//! and one account), on a current-thread runtime. The CSV reader itself (`import::read`) is
//! private, hence the database.
//!
//! Properties: a refused file is an `ImportError::File` naming its line (never a database
//! error: every line is checked before anything is written); a file with a bad line imports
//! nothing unless `--skip-invalid`; refused lines are numbered within the file, in order; the
//! report counts exactly what was written, and every data line is either imported or refused.
//! What an import wrote is deleted afterwards, so every input starts from the same directory.
//! And, without the database, on every cell of the file: the export's formula neutralisation
//! (`directory::csv::neutralise`) is undone by the import (`restore`), the yes/no and grant
//! cells read back what the export writes.
//!
//! Input: first byte: bit 0 = users (else structures), bit 1 = `--skip-invalid`; the rest is
//! the file.
#![no_main]

use convergences::config::Config;
use convergences::directory::csv as cells;
use convergences::directory::Directory;
use convergences::import::{import_structures, import_users, ImportError};
use libfuzzer_sys::fuzz_target;
use sqlx::Row;
use std::sync::OnceLock;

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:8080"
portal_host = "auth.localhost"
[[apps]]
slug = "bip"
name = "BIP"
host = "bip.localhost"
upstreams = ["127.0.0.1:9001"]
[[apps]]
slug = "net-cotisations"
name = "Net-Cotisations"
host = "cotisations.localhost"
upstreams = ["127.0.0.1:9002"]
roles = ["administrateur", "utilisateur", "lecteur"]
"#;

const STRUCTURES: &str =
    "Nom de la structure;Nom long;Structure parente;Domaines autorisés;Adresse postale\n\
mairie-exemple;Mairie d'Exemple;;mairie-exemple.fr;1 place de la Mairie\n\
ccas;Centre communal d'action sociale;mairie-exemple;;\n\
cig-exemple;Centre interdépartemental de gestion;;cig-exemple.fr, cig.fr;\n";

const USERS: &str = "Nom;Prénom;Adresse e-mail;Structure;Applications et rôles\n\
Martin;Camille;agent@mairie-exemple.fr;mairie-exemple;BIP : utilisateur\n";

struct World {
    rt: tokio::runtime::Runtime,
    dir: Directory,
    base_structure: i64,
    base_user: i64,
    /// Structures, users and role assignments of the seeded directory.
    seed: [i64; 3],
}

async fn scalar(dir: &Directory, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&dir.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn counts(dir: &Directory) -> [i64; 3] {
    [
        scalar(dir, "SELECT COUNT(*) FROM structures").await,
        scalar(dir, "SELECT COUNT(*) FROM users").await,
        scalar(dir, "SELECT COUNT(*) FROM role_assignments").await,
    ]
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A file rather than `sqlite::memory:`: the pool may replace its connection during a
        // long run, and an in-memory database would vanish with it. fuzz/run.sh points TMPDIR
        // at its scratch directory.
        let path =
            std::env::temp_dir().join(format!("convergences-fuzz-csv-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let dir = rt.block_on(async {
            let dir = Directory::connect(&format!("sqlite://{}?mode=rwc", path.display()), 1)
                .await
                .unwrap();
            dir.migrate().await.unwrap();
            let config = Config::from_toml("fuzz.toml", CONFIG, &[]).unwrap();
            dir.sync_apps(&config.apps).await.unwrap();
            let r = import_structures(&dir, STRUCTURES.as_bytes(), false, 32)
                .await
                .unwrap();
            assert!(r.errors.is_empty() && r.imported == 3, "{:?}", r.errors);
            let r = import_users(&dir, USERS.as_bytes(), false).await.unwrap();
            assert!(r.errors.is_empty() && r.imported == 1, "{:?}", r.errors);
            dir
        });
        let (base_structure, base_user, seed) = rt.block_on(async {
            (
                scalar(&dir, "SELECT MAX(id) FROM structures").await,
                scalar(&dir, "SELECT MAX(id) FROM users").await,
                counts(&dir).await,
            )
        });
        World {
            rt,
            dir,
            base_structure,
            base_user,
            seed,
        }
    })
}

/// Data lines the importer must account for: records of a `;` CSV with a header, blank ones
/// aside (`None` if the csv crate itself refuses the file).
fn data_lines(text: &str) -> Option<usize> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(true)
        .from_reader(text.as_bytes());
    r.headers().ok()?;
    let mut n = 0;
    for rec in r.records() {
        let rec = rec.ok()?;
        if !rec.iter().all(|c| c.trim().is_empty()) {
            n += 1;
        }
    }
    Some(n)
}

/// Export → import of one cell value, as the forms store it (trimmed).
fn check_cell(cell: &str) {
    let v = cell.trim();
    let exported = cells::neutralise(v);
    assert!(
        !exported.starts_with(['=', '+', '-', '@', '\t', '\r']),
        "{v:?} exported as a formula: {exported:?}"
    );
    assert_eq!(
        cells::restore(&exported),
        v,
        "{v:?} exported as {exported:?}"
    );
    if let Some(b) = cells::parse_yes_no(v) {
        assert_eq!(cells::parse_yes_no(cells::yes_no(b)), Some(b));
    }
    for g in cells::grants_of(v) {
        assert!(!g.is_empty() && g == g.trim() && !g.contains('|'));
        if let Some((app, role, on)) = cells::parse_grant(g) {
            assert!(app == app.trim() && role == role.trim() && !app.contains(':'));
            if let Some(on) = on {
                assert_eq!(on, on.trim());
                // What the export writes for this grant reads back the same.
                if !role.contains('(') && !on.ends_with(')') && !app.is_empty() {
                    let again = cells::grant(app, role, on);
                    assert_eq!(
                        cells::parse_grant(&again),
                        Some((app, role, Some(on))),
                        "{again:?}"
                    );
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(file) {
        let mut r = csv::ReaderBuilder::new()
            .delimiter(cells::SEPARATOR)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        for rec in r.records().take(64).flatten() {
            for cell in rec.iter().take(32) {
                check_cell(cell);
            }
        }
    }
    let (users, skip_invalid) = (flags & 1 == 1, flags & 2 == 2);
    let w = world();
    w.rt.block_on(async {
        let before = counts(&w.dir).await;
        assert_eq!(before, w.seed, "the previous input's import was not undone");
        let result = if users {
            import_users(&w.dir, file, skip_invalid).await
        } else {
            import_structures(&w.dir, file, skip_invalid, 32).await
        };
        let after = counts(&w.dir).await;
        match result {
            Err(ImportError::File(m)) => {
                assert!(
                    m.starts_with("line ") || m.starts_with("the file is not UTF-8"),
                    "refusal without a line: {m:?}"
                );
                assert_eq!(before, after, "a refused file wrote something");
            }
            Err(e) => panic!("a CSV file caused a database error: {e}"),
            Ok(report) => {
                let text = std::str::from_utf8(file).expect("an imported file is UTF-8");
                let last_line = 1 + convergences::import::line_breaks(text.as_bytes());
                let lines: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
                assert!(
                    lines.windows(2).all(|p| p[0] < p[1]),
                    "line numbers out of order: {lines:?}"
                );
                for e in &report.errors {
                    assert!(
                        (2..=last_line).contains(&e.line),
                        "line {} outside 2..={last_line}: {}",
                        e.line,
                        e.message
                    );
                    assert!(!e.message.is_empty());
                }
                let written = if users {
                    after[1] - before[1]
                } else {
                    after[0] - before[0]
                };
                assert_eq!(
                    written, report.imported as i64,
                    "report and database disagree"
                );
                if !report.errors.is_empty() && !skip_invalid {
                    assert_eq!(report.imported, 0);
                    assert_eq!(before, after, "a file with a bad line wrote something");
                }
                if report.errors.is_empty() || skip_invalid {
                    if let Some(n) = data_lines(text) {
                        assert_eq!(
                            report.imported + report.errors.len(),
                            n,
                            "lines neither imported nor refused"
                        );
                    }
                }
            }
        }
        if after != before {
            // Back to the seeded directory (deleting users deletes their assignments).
            sqlx::query("DELETE FROM users WHERE id > $1")
                .bind(w.base_user)
                .execute(&w.dir.pool)
                .await
                .unwrap();
            // Children first: a parent is RESTRICTed while it has one.
            let ids: Vec<i64> =
                sqlx::query("SELECT id FROM structures WHERE id > $1 ORDER BY id DESC")
                    .bind(w.base_structure)
                    .fetch_all(&w.dir.pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.try_get(0).unwrap())
                    .collect();
            for id in ids {
                sqlx::query("DELETE FROM structures WHERE id = $1")
                    .bind(id)
                    .execute(&w.dir.pool)
                    .await
                    .unwrap();
            }
            assert_eq!(counts(&w.dir).await, w.seed);
        }
    });
});
