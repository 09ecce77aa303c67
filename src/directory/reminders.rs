//! What the daily reminder tells each référent: accounts of their subtree whose validity ends
//! soon, and accounts never used since their creation long ago.

use super::{DResult, Directory};

/// A référent designation the reminders go to.
#[derive(sqlx::FromRow)]
struct ReferentRow {
    email: String,
    first_name: String,
    path: String,
}

/// An account of a référent's structures, as a reminder lists it.
#[derive(sqlx::FromRow)]
struct AccountRow {
    last_name: String,
    first_name: String,
    email: String,
    /// Read only for the accounts about to expire.
    #[sqlx(default)]
    valid_until: Option<String>,
}

pub struct ReminderBatch {
    pub referent_email: String,
    pub referent_first_name: String,
    /// "Nom Prénom <e-mail> (fin le AAAA-MM-JJ)"
    pub expiring: Vec<String>,
    pub unused: Vec<String>,
}

/// `[lo, hi)` bounds of the paths of a subtree rooted at `path` ("/2/5/"): "/2/5/" ≤ p <
/// "/2/50", since '0' follows '/' in ASCII; the column compares bytewise on both back ends.
pub fn subtree_bounds(path: &str) -> (String, String) {
    let hi = format!("{}0", path.trim_end_matches('/'));
    (path.to_string(), hi)
}

impl Directory {
    pub async fn reminder_batches(
        &self,
        today: &str,
        expiring_until: &str,
        unused_created_before: i64,
    ) -> DResult<Vec<ReminderBatch>> {
        let referents = sqlx::query_as::<_, ReferentRow>(
            "SELECT u.email, u.first_name, s.path FROM referents r JOIN users u ON u.id = r.user_id \
             JOIN structures s ON s.id = r.structure_id \
             WHERE u.locked = 0 AND u.password_hash IS NOT NULL ORDER BY u.email, s.path",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut batches: Vec<ReminderBatch> = Vec::new();
        for r in referents {
            let (email, first) = (r.email, r.first_name);
            let (lo, hi) = subtree_bounds(&r.path);
            let expiring = sqlx::query_as::<_, AccountRow>(
                "SELECT v.last_name, v.first_name, v.email, v.valid_until FROM users v \
                 JOIN structures s ON s.id = v.structure_id \
                 WHERE s.path >= $1 AND s.path < $2 AND v.valid_until IS NOT NULL \
                 AND v.valid_until >= $3 AND v.valid_until <= $4 ORDER BY v.valid_until, v.last_name",
            )
            .bind(&lo)
            .bind(&hi)
            .bind(today)
            .bind(expiring_until)
            .fetch_all(&self.pool)
            .await?;
            let unused = sqlx::query_as::<_, AccountRow>(
                "SELECT v.last_name, v.first_name, v.email FROM users v \
                 JOIN structures s ON s.id = v.structure_id \
                 WHERE s.path >= $1 AND s.path < $2 AND v.last_login_at IS NULL AND v.created_at <= $3 \
                 ORDER BY v.last_name, v.first_name",
            )
            .bind(&lo)
            .bind(&hi)
            .bind(unused_created_before)
            .fetch_all(&self.pool)
            .await?;
            let e: Vec<String> = expiring
                .iter()
                .map(|x| {
                    format!(
                        "{} {} <{}> (fin le {})",
                        x.last_name,
                        x.first_name,
                        x.email,
                        x.valid_until.as_deref().unwrap_or_default()
                    )
                })
                .collect();
            let u: Vec<String> = unused
                .iter()
                .map(|x| format!("{} {} <{}>", x.last_name, x.first_name, x.email))
                .collect();
            // A référent of several structures gets one message.
            match batches.iter_mut().find(|b| b.referent_email == email) {
                Some(b) => {
                    for item in e {
                        if !b.expiring.contains(&item) {
                            b.expiring.push(item);
                        }
                    }
                    for item in u {
                        if !b.unused.contains(&item) {
                            b.unused.push(item);
                        }
                    }
                }
                None => batches.push(ReminderBatch {
                    referent_email: email,
                    referent_first_name: first,
                    expiring: e,
                    unused: u,
                }),
            }
        }
        batches.retain(|b| !b.expiring.is_empty() || !b.unused.is_empty());
        Ok(batches)
    }

    /// Claims today's run of a daily job; true for exactly one caller per day.
    pub async fn claim_daily_job(&self, name: &str, today: &str) -> DResult<bool> {
        sqlx::query(
            "INSERT INTO job_runs (name, last_day) VALUES ($1, '') ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        let done =
            sqlx::query("UPDATE job_runs SET last_day = $1 WHERE name = $2 AND last_day < $1")
                .bind(today)
                .bind(name)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn subtree_bounds_cover_descendants_only() {
        let (lo, hi) = super::subtree_bounds("/2/5/");
        for inside in ["/2/5/", "/2/5/9/", "/2/5/10/3/"] {
            assert!(inside >= lo.as_str() && inside < hi.as_str(), "{inside}");
        }
        for outside in ["/2/", "/2/50/", "/2/6/", "/2/4/", "/3/"] {
            assert!(
                !(outside >= lo.as_str() && outside < hi.as_str()),
                "{outside}"
            );
        }
    }
}
