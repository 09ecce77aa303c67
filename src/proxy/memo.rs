//! Per proxy thread, the recent decisions of `Proxy::authorize`: for an application's cookie,
//! the user it was let through as and the identity lines sent with it. A user's next requests
//! on the same thread then cost one look-up in that thread's own map: no digest of the cookie,
//! no shared map, no reference count another core writes too
//! (docs/architecture.md#a-request-to-an-application).
//!
//! A decision is reused only while what it was taken on is known unchanged (a [`Stamp`] read
//! before it was taken): the session generation (every revocation, sign-out or session change,
//! here or announced by another instance), the identity cache's epoch (every account change)
//! and the application's route generation (a reload). And at most until the earliest of:
//! [`LIFETIME`] after it was taken, the session's timeouts and next last-seen write, the moment
//! the identity's background reload is due (or, once claimed, its end of freshness), the
//! assertion's renewal, the second-factor enrolment deadline, and, with Redis, the end of the
//! session cache's own freshness. So it answers nothing the full path would not have answered
//! (the full path itself reads validity dates against a day computed once a minute).

use super::identity_cache::AppHeaders;
use foldhash::fast::RandomState as Fast;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thread_local::ThreadLocal;

/// The longest a decision is reused. Every change the decision depends on moves a counter of
/// its [`Stamp`] or bounds it by a deadline; this only caps how long a user's entry stays in
/// the memo (and the same thread's decisions for that long).
pub const LIFETIME: Duration = Duration::from_secs(5);

/// Decisions kept per thread. Each holds its cookie and a copy of the identity lines (about
/// 1 KB with the signed assertion): about 5 MB per thread at most. Only users seen in the
/// last [`LIFETIME`] need one.
const MAX_PER_THREAD: usize = 4096;

/// What a decision was taken on; it is reused only under the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub sessions: u64,
    pub identities: u64,
    pub routes: u64,
}

/// One decision: the request goes through as `user_id` with `headers`.
pub struct Decision {
    pub user_id: i64,
    /// This thread's own copy (`AppHeaders::thread_copy`).
    pub headers: Arc<AppHeaders>,
    pub stamp: Stamp,
    /// The earliest of the deadlines kept on the monotonic clock...
    pub until: Instant,
    /// ... and of those in Unix seconds (session timeouts, assertion renewal), exclusive.
    pub until_unix: i64,
}

#[derive(Default)]
struct PerThread {
    /// By application index (`AppRoute::idx`), then cookie value.
    apps: Vec<HashMap<Box<str>, Decision, Fast>>,
    len: usize,
}

#[derive(Default)]
pub struct DecisionMemo {
    threads: ThreadLocal<RefCell<PerThread>>,
}

impl DecisionMemo {
    /// The decision taken for `cookie` on application `app`, if it may be reused now.
    pub fn get(
        &self,
        app: usize,
        cookie: &str,
        stamp: Stamp,
        now: Instant,
        now_unix: i64,
    ) -> Option<(i64, Arc<AppHeaders>)> {
        let this = self.threads.get()?.try_borrow().ok()?;
        let d = this.apps.get(app)?.get(cookie)?;
        (d.stamp == stamp && now < d.until && now_unix < d.until_unix)
            .then(|| (d.user_id, d.headers.clone()))
    }

    pub fn put(&self, app: usize, cookie: &str, decision: Decision) {
        let cell = self.threads.get_or_default();
        let Ok(mut this) = cell.try_borrow_mut() else {
            return;
        };
        if this.len >= MAX_PER_THREAD {
            // Expired decisions stay until the memo is full (a user who left keeps one): drop
            // them then, and start again empty if the live ones alone fill it.
            let now = Instant::now();
            for map in &mut this.apps {
                map.retain(|_, d| now < d.until);
            }
            this.len = this.apps.iter().map(HashMap::len).sum();
            if this.len >= MAX_PER_THREAD {
                this.apps.clear();
                this.len = 0;
            }
        }
        if this.apps.len() <= app {
            this.apps.resize_with(app + 1, HashMap::default);
        }
        if this.apps[app].insert(cookie.into(), decision).is_none() {
            this.len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::identity_cache::AppHeaders;

    fn decision(stamp: Stamp, until: Instant, until_unix: i64) -> Decision {
        Decision {
            user_id: 7,
            headers: Arc::new(AppHeaders::empty_for_tests()),
            stamp,
            until,
            until_unix,
        }
    }

    const STAMP: Stamp = Stamp {
        sessions: 1,
        identities: 2,
        routes: 3,
    };

    #[test]
    fn a_decision_is_reused_only_under_the_same_stamp_and_before_its_deadlines() {
        let memo = DecisionMemo::default();
        let now = Instant::now();
        memo.put(2, "cookie", decision(STAMP, now + LIFETIME, 1_000));
        assert_eq!(memo.get(2, "cookie", STAMP, now, 999).map(|d| d.0), Some(7));
        assert!(
            memo.get(2, "other", STAMP, now, 999).is_none(),
            "another cookie"
        );
        assert!(
            memo.get(1, "cookie", STAMP, now, 999).is_none(),
            "another app"
        );
        assert!(
            memo.get(9, "cookie", STAMP, now, 999).is_none(),
            "an app never seen"
        );
        for changed in [
            Stamp {
                sessions: 2,
                ..STAMP
            },
            Stamp {
                identities: 3,
                ..STAMP
            },
            Stamp { routes: 4, ..STAMP },
        ] {
            assert!(
                memo.get(2, "cookie", changed, now, 999).is_none(),
                "{changed:?}"
            );
        }
        assert!(
            memo.get(2, "cookie", STAMP, now + LIFETIME, 999).is_none(),
            "expired"
        );
        assert!(
            memo.get(2, "cookie", STAMP, now, 1_000).is_none(),
            "Unix deadline"
        );
    }

    #[test]
    fn each_thread_has_its_own_decisions() {
        let memo = DecisionMemo::default();
        let now = Instant::now();
        memo.put(0, "cookie", decision(STAMP, now + LIFETIME, i64::MAX));
        std::thread::scope(|s| {
            s.spawn(|| assert!(memo.get(0, "cookie", STAMP, now, 0).is_none()));
        });
        assert!(memo.get(0, "cookie", STAMP, now, 0).is_some());
    }

    #[test]
    fn a_full_memo_drops_its_expired_decisions_first() {
        let memo = DecisionMemo::default();
        let now = Instant::now();
        for i in 0..MAX_PER_THREAD - 1 {
            memo.put(0, &i.to_string(), decision(STAMP, now, i64::MAX));
        }
        memo.put(1, "live", decision(STAMP, now + LIFETIME, i64::MAX));
        memo.put(1, "one more", decision(STAMP, now + LIFETIME, i64::MAX));
        assert!(memo.get(1, "live", STAMP, now, 0).is_some(), "kept");
        assert!(memo.get(1, "one more", STAMP, now, 0).is_some());
        let this = memo.threads.get().unwrap().borrow();
        assert_eq!(this.len, 2, "the expired ones are gone");
    }

    #[test]
    fn a_full_memo_starts_again_empty() {
        let memo = DecisionMemo::default();
        let now = Instant::now();
        for i in 0..MAX_PER_THREAD {
            memo.put(0, &i.to_string(), decision(STAMP, now + LIFETIME, i64::MAX));
        }
        assert!(memo.get(0, "0", STAMP, now, 0).is_some());
        memo.put(1, "one more", decision(STAMP, now + LIFETIME, i64::MAX));
        assert!(memo.get(0, "0", STAMP, now, 0).is_none(), "cleared");
        assert!(memo.get(1, "one more", STAMP, now, 0).is_some());
    }
}
