use sluice_core::spec::{HealthProbe, ServiceSpec};
use sluice_core::time::Dur;

use super::*;

fn spec() -> ServiceSpec {
    serde_json::from_value(serde_json::json!({
        "pipeline": "default",
        "max_bundle_bytes": 1000,
        "hooks": {"check": "spec-check", "reload": "spec-reload"}
    }))
    .unwrap()
}

/// Any digest: the plan only looks at whether the answer names a spec.
const SPEC_DIGEST: &str = "sha256:5d5b09f6dcb2d53a5fffc60c4ac0d55fabdf556069d6631545f42aa6e3500f2e";

fn desired(release: Option<&str>) -> DesiredService {
    DesiredService {
        service: "edge".into(),
        release: release.map(ReleaseId::from),
        bundle: release.map(str::to_string),
        rollout: Some("r-1".into()),
        spec_digest: Some(SPEC_DIGEST.into()),
        spec: None,
        known_good: None,
    }
}

fn kept(ids: &[&str]) -> BTreeSet<ReleaseId> {
    ids.iter().map(|s| ReleaseId::from(*s)).collect()
}

fn local<'a>(current: Option<&'a ReleaseId>, kept: &'a BTreeSet<ReleaseId>) -> Local<'a> {
    Local { current, kept, failed: None, retry_due: false }
}

#[test]
fn no_release_leaves_the_service_alone() {
    let a = ReleaseId::from("a");
    let k = kept(&["a"]);
    assert_eq!(decide(&desired(None), local(Some(&a), &k)), Decision::Hold(Hold::NoRelease));
    assert_eq!(decide(&desired(None), local(None, &k)), Decision::Hold(Hold::NoRelease));
}

#[test]
fn the_current_release_is_in_sync_even_without_a_spec() {
    let a = ReleaseId::from("a");
    let k = kept(&["a"]);
    let mut d = desired(Some("a"));
    d.spec_digest = None;
    assert_eq!(decide(&d, local(Some(&a), &k)), Decision::InSync);
}

#[test]
fn a_new_release_is_downloaded_by_digest() {
    let a = ReleaseId::from("a");
    let k = kept(&["a"]);
    let want = Decision::Apply { release: "b".into(), bundle: "b".into() };
    assert_eq!(decide(&desired(Some("b")), local(Some(&a), &k)), want);
    assert_eq!(decide(&desired(Some("b")), local(None, &BTreeSet::new())), want);
    // Without a bundle digest the release id is the digest.
    let mut d = desired(Some("b"));
    d.bundle = None;
    assert_eq!(decide(&d, local(Some(&a), &k)), want);
    // A bundle named apart from the release is downloaded, and verified against the release.
    d.bundle = Some("c".into());
    assert_eq!(decide(&d, local(Some(&a), &k)), Decision::Apply { release: "b".into(), bundle: "c".into() });
}

#[test]
fn a_kept_release_is_rolled_back_to_without_download_or_spec() {
    let b = ReleaseId::from("b");
    let k = kept(&["a", "b"]);
    let mut d = desired(Some("a"));
    assert_eq!(decide(&d, local(Some(&b), &k)), Decision::RollBack { release: "a".into() });
    d.spec_digest = None;
    assert_eq!(decide(&d, local(Some(&b), &k)), Decision::RollBack { release: "a".into() });
}

#[test]
fn nothing_new_is_applied_without_a_spec() {
    let a = ReleaseId::from("a");
    let k = kept(&["a"]);
    let mut d = desired(Some("b"));
    d.spec_digest = None;
    assert_eq!(decide(&d, local(Some(&a), &k)), Decision::Hold(Hold::NoSpec));
    // A server from before spec digests sends the spec inline: that is a spec too.
    d.spec = Some(spec());
    assert_eq!(decide(&d, local(Some(&a), &k)), Decision::Apply { release: "b".into(), bundle: "b".into() });
}

#[test]
fn a_failed_release_is_not_retried_until_the_server_asks_for_another() {
    let a = ReleaseId::from("a");
    let b = ReleaseId::from("b");
    let k = kept(&["a"]);
    let l = Local { current: Some(&a), kept: &k, failed: Some(&b), retry_due: true };
    assert_eq!(decide(&desired(Some("b")), l), Decision::Hold(Hold::FailedBefore));
    assert!(!retries(&desired(Some("b")), &b));
    assert!(failure_still_holds(&desired(Some("b")), &b));
    // The server rolls back to a: in sync, and the failure of b is forgotten.
    assert_eq!(decide(&desired(Some("a")), l), Decision::InSync);
    assert!(!failure_still_holds(&desired(Some("a")), &b));
    assert!(!failure_still_holds(&desired(None), &b));
    // The failure of b does not block c.
    assert!(matches!(decide(&desired(Some("c")), l), Decision::Apply { .. }));
}

#[test]
fn a_known_good_release_that_failed_is_tried_again_once_its_retry_is_due() {
    // A rollback to known-good a whose probe failed: the node switched back to the candidate b.
    let a = ReleaseId::from("a");
    let b = ReleaseId::from("b");
    let k = kept(&["a", "b"]);
    let mut d = desired(Some("a"));
    d.known_good = Some(a.clone());
    assert!(retries(&d, &a));
    assert!(failure_still_holds(&d, &a));
    let waiting = Local { current: Some(&b), kept: &k, failed: Some(&a), retry_due: false };
    assert_eq!(decide(&d, waiting), Decision::Hold(Hold::RetryingKnownGood));
    let due = Local { retry_due: true, ..waiting };
    assert_eq!(decide(&d, due), Decision::RollBack { release: a.clone() });
    // Not kept any more: downloaded again, as any release.
    let none = BTreeSet::new();
    let due = Local { kept: &none, ..due };
    assert_eq!(decide(&d, due), Decision::Apply { release: a.clone(), bundle: "a".into() });
    // A failed candidate is never retried, due or not, even while a known-good is named.
    let mut d = desired(Some("b"));
    d.known_good = Some(a.clone());
    let l = Local { current: Some(&a), kept: &k, failed: Some(&b), retry_due: true };
    assert!(!retries(&d, &b));
    assert_eq!(decide(&d, l), Decision::Hold(Hold::FailedBefore));
}

#[test]
fn known_good_is_marked_once_and_only_when_kept() {
    let k = kept(&["a", "b"]);
    let mut d = desired(Some("b"));
    assert_eq!(known_good_to_mark(&d, None, &k), None);
    d.known_good = Some("a".into());
    assert_eq!(known_good_to_mark(&d, None, &k), Some("a".into()));
    assert_eq!(known_good_to_mark(&d, Some(&"b".into()), &k), Some("a".into()));
    assert_eq!(known_good_to_mark(&d, Some(&"a".into()), &k), None);
    d.known_good = Some("z".into());
    assert_eq!(known_good_to_mark(&d, None, &k), None, "not on this node");
}

#[test]
fn host_hooks_override_the_spec_field_by_field() {
    let probe = HealthProbe { http: Some("http://h/".into()), command: None, timeout: Dur::secs(1), attempts: 2 };
    let host = ServiceConfig { check: Some("host-check".into()), health: Some(probe.clone()), ..Default::default() };
    let h = hooks(Some(&spec().hooks), &host);
    assert_eq!(h.check.as_deref(), Some("host-check"));
    assert_eq!(h.reload.as_deref(), Some("spec-reload"));
    assert_eq!(h.health, Some(probe));
    let h = hooks(None, &ServiceConfig::default());
    assert_eq!(h, Hooks::default());
}
