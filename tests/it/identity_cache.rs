//! The proxy's identity cache against a real directory (src/proxy/identity_cache.rs): an
//! identity in use is reloaded ahead of its expiry, keeps its signed headers when nothing
//! changed, gets new ones when something did, and a reload that read the directory before an
//! invalidation does not put what it read back. And the proxy threads' reused decisions
//! (src/proxy/memo.rs) follow every change of a session, a role or an account at the very next
//! request.

use crate::harness::{TestGateway, PASSWORD};
use convergences::proxy::identity_cache::IdentityCache;
use convergences::session::Assurance;
use std::sync::Arc;
use std::time::{Duration, Instant};

const AGENT: &str = "agent@mairie-exemple.fr";

#[test]
fn identities_in_use_are_reloaded_ahead_of_expiry_and_unchanged_ones_keep_their_assertions() {
    let t = TestGateway::start();
    let dir = &t.gw.dir;
    let uid = t.block_on(dir.user_id_by_email(AGENT)).unwrap().unwrap();
    // Long enough that a loaded machine still sees the window between 3/4 of it and its end.
    let ttl = Duration::from_secs(2);
    let cache = IdentityCache::new(ttl, 1);
    let now = convergences::directory::now();
    let assurance = Assurance::password(now);
    let routes = t.gw.routes();
    assert_eq!(routes.apps[0].cfg.slug, "bip");
    let headers = |e: &convergences::proxy::identity_cache::CachedIdentity| {
        e.headers_for(&routes.apps[0], &t.gw.signer, &assurance, now)
            .unwrap()
    };

    let first = t.block_on(cache.get(dir, uid)).unwrap().unwrap();
    let loaded = Instant::now();
    let signed = headers(&first);
    assert!(
        !cache.claim_refresh(&first),
        "a young entry is not reloaded"
    );
    // From three quarters of the lifetime: reloaded once, in the background, while still
    // served.
    while !cache.claim_refresh(&first) {
        assert!(loaded.elapsed() < ttl, "no reload claimed before expiry");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(loaded.elapsed() >= ttl / 2, "claimed too early");
    assert!(!cache.claim_refresh(&first), "one reload per entry");
    t.block_on(cache.refresh(dir, &[uid]));
    let second = t.block_on(cache.get(dir, uid)).unwrap().unwrap();
    assert!(
        !Arc::ptr_eq(&first, &second),
        "the reload replaced the entry"
    );
    assert!(
        Arc::ptr_eq(&signed, &headers(&second)),
        "an unchanged identity keeps its signed headers"
    );

    // A change the reload sees: new headers.
    t.block_on(dir.set_locked(uid, true)).unwrap();
    t.block_on(cache.refresh(dir, &[uid]));
    let third = t.block_on(cache.get(dir, uid)).unwrap().unwrap();
    assert!(third.identity.locked);
    assert!(!Arc::ptr_eq(&signed, &headers(&third)));

    // A read that began before an invalidation serves its request but is not cached.
    let epoch = cache.epoch();
    let read = t.block_on(dir.identity(uid)).unwrap().unwrap();
    t.block_on(dir.set_locked(uid, false)).unwrap();
    cache.invalidate(uid);
    let stale = cache.store(uid, read, epoch);
    assert!(stale.identity.locked);
    let fresh = t.block_on(cache.get(dir, uid)).unwrap().unwrap();
    assert!(
        !fresh.identity.locked,
        "the invalidated read was not put back"
    );

    // An account gone while its entry was in use: the reload removes it.
    let young = t.block_on(cache.get(dir, uid)).unwrap().unwrap();
    assert!(!cache.claim_refresh(&young));
    t.block_on(dir.delete_user_gdpr(uid, AGENT, "compte-supprime"))
        .unwrap();
    t.block_on(cache.refresh(dir, &[uid]));
    assert!(t.block_on(cache.get(dir, uid)).unwrap().is_none());
}

#[test]
fn a_batch_read_gives_each_user_the_identity_read_alone() {
    let t = TestGateway::start();
    let dir = &t.gw.dir;
    let mut ids = Vec::new();
    for email in [
        "admin@cig-exemple.fr",
        "referent@mairie-exemple.fr",
        AGENT,
        "agent.ccas@mairie-exemple.fr",
    ] {
        ids.push(t.block_on(dir.user_id_by_email(email)).unwrap().unwrap());
    }
    let alone: Vec<_> = ids
        .iter()
        .map(|id| t.block_on(dir.identity(*id)).unwrap().unwrap())
        .collect();
    assert!(
        alone.iter().any(|i| i.grants.len() >= 2),
        "some account has several grants, whose order counts"
    );
    // Accounts that do not exist, a repeated id, and more ids than one batch reads.
    let mut asked = ids.clone();
    asked.push(ids[0]);
    asked.extend(1_000_000..1_000_070);
    assert!(asked.len() > convergences::directory::identities::MAX_BATCH);
    let batch = t.block_on(dir.identities(&asked)).unwrap();
    assert_eq!(batch.len(), ids.len(), "absent accounts are left out");
    for identity in alone {
        assert_eq!(batch.get(&identity.user_id), Some(&identity));
    }
    assert!(t.block_on(dir.identity(1_000_000)).unwrap().is_none());
}

#[test]
fn queued_reloads_are_read_together_by_one_task_that_leaves_the_queue_empty() {
    let t = TestGateway::start();
    let dir = &t.gw.dir;
    let agent = t.block_on(dir.user_id_by_email(AGENT)).unwrap().unwrap();
    let other = t
        .block_on(dir.user_id_by_email("agent.ccas@mairie-exemple.fr"))
        .unwrap()
        .unwrap();
    let cache = IdentityCache::new(Duration::from_secs(2), 1);
    let before = t.block_on(cache.get(dir, agent)).unwrap().unwrap();
    t.block_on(cache.get(dir, other)).unwrap().unwrap();
    t.block_on(dir.set_locked(other, true)).unwrap();

    assert!(cache.queue_refresh(agent), "the first claim starts a task");
    assert!(!cache.queue_refresh(other), "later claims join its queue");
    assert!(!cache.queue_refresh(agent), "a user queued twice");
    // More than one batch: the task reads on until the queue is empty.
    for gone in 1_000_000..1_000_070 {
        assert!(!cache.queue_refresh(gone));
    }
    t.block_on(cache.refresh_queued(dir));
    let after = t.block_on(cache.get(dir, agent)).unwrap().unwrap();
    assert!(!Arc::ptr_eq(&before, &after), "the agent was reloaded");
    assert!(
        Arc::ptr_eq(&after, &t.block_on(cache.get(dir, agent)).unwrap().unwrap()),
        "and is cached, not dropped by the repeated id"
    );
    assert!(
        t.block_on(cache.get(dir, other))
            .unwrap()
            .unwrap()
            .identity
            .locked,
        "the other user's change was read in the same batch"
    );
    assert!(cache.queue_refresh(agent), "the queue was left empty");

    // A task stopped while it waits (its runtime shut down) lets the next claim start another.
    let stopped = t.block_on(async {
        tokio::time::timeout(Duration::from_millis(1), cache.refresh_queued(dir)).await
    });
    assert!(stopped.is_err(), "the task was waiting to gather claims");
    assert!(cache.queue_refresh(other), "a new task may start");
}

/// The proxy thread reuses its decision for a cookie for a few seconds (src/proxy/memo.rs):
/// every change to the session must still reach the very next request on that connection.
#[test]
fn a_reused_decision_follows_every_change_of_the_session_at_once() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    let amr = |b: &crate::harness::Browser| {
        let echo = b.get_json(&t.url("bip.test", "/"));
        let jwt = echo["headers"]["x-convergences-assertion"][0]
            .as_str()
            .unwrap()
            .to_string();
        crate::harness::claims_of(&jwt)["amr"].clone()
    };
    // Twice on one keep-alive connection: the second is answered from the thread's memo.
    assert_eq!(amr(&b), serde_json::json!(["pwd"]));
    assert_eq!(amr(&b), serde_json::json!(["pwd"]));
    let key = b.session_key();
    t.block_on(t.gw.sessions.modify(&key, |r| {
        r.assurance.amr = vec!["pwd".into(), "otp".into(), "mfa".into()];
    }))
    .unwrap();
    assert_eq!(
        amr(&b),
        serde_json::json!(["pwd", "otp", "mfa"]),
        "new assurance"
    );
    t.block_on(t.gw.sessions.revoke(&key)).unwrap();
    let r = b
        .client
        .get(t.url("bip.test", "/"))
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401, "revoked");
}

#[test]
fn removing_a_role_or_locking_the_account_refuses_the_next_request() {
    let t = TestGateway::start();
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    assert_eq!(b.get_json(&t.url("bip.test", "/"))["app"], "bip");
    let status = || {
        b.client
            .get(t.url("bip.test", "/"))
            .send()
            .unwrap()
            .status()
    };
    let agent = t.user_id("agent@mairie-exemple.fr");
    assert_eq!(
        t.block_on(t.gw.dir.unassign_role(agent, "bip", "utilisateur"))
            .unwrap(),
        1
    );
    t.gw.user_changed(agent);
    assert_eq!(status(), 403);
    t.block_on(t.gw.dir.assign_role(agent, "bip", "utilisateur", 2, None))
        .unwrap();
    t.gw.user_changed(agent);
    assert_eq!(status(), 200);
    t.block_on(t.gw.dir.set_locked(agent, true)).unwrap();
    t.gw.user_changed(agent);
    assert_eq!(status(), 401);
    t.block_on(t.gw.dir.set_locked(agent, false)).unwrap();
    t.block_on(t.gw.dir.set_validity(agent, None, Some("2020-01-01")))
        .unwrap();
    t.gw.user_changed(agent);
    assert_eq!(status(), 401, "validity ended");
}
