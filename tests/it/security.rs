//! Hardening from the security review: what the portal refuses and how (French pages, never a
//! 500), which endpoints need a secret, and what the data folder lets other local users read.

use crate::harness::TestGateway;

#[test]
fn metrics_is_not_served_without_a_configured_token() {
    let t = TestGateway::start();
    let c = t.client(false);
    for auth in [None, Some("Bearer "), Some("Bearer anything")] {
        let mut req = c.get(t.url("auth.test", "/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().unwrap();
        assert_eq!(r.status(), 404, "{auth:?}");
        let body = r.text().unwrap();
        assert!(body.contains("Page introuvable"), "{body}");
        assert!(!body.contains("convergences_"), "{body}");
    }
}
