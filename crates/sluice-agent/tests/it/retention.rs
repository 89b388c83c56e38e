//! Retention on disk: the last N releases, and never current, previous or known-good.

use sluice_agent::StoreConfig;
use sluice_core::spec::Hooks;

use crate::apply::{Node, release, spec};

#[test]
fn keeps_the_last_n_and_never_deletes_known_good() {
    let mut node = Node::with_config(StoreConfig { keep: 2, ..StoreConfig::default() });
    let s = spec(Hooks::default(), Vec::new());
    let r: Vec<_> = (1..=5).map(|i| release(&format!("R{i}"), i, &[])).collect();

    node.apply(&s, &r[0]).unwrap();
    node.store.mark_known_good(&r[0].id).unwrap();
    node.apply(&s, &r[1]).unwrap();
    node.apply(&s, &r[2]).unwrap();
    let outcome = node.apply(&s, &r[3]).unwrap();
    assert_eq!(outcome.pruned, [r[1].id.clone()], "R2 is neither known-good, current, previous nor in the last 2");
    assert_eq!(outcome.prune_error, None);
    node.apply(&s, &r[4]).unwrap();

    let mut expected = vec![r[0].id.clone(), r[3].id.clone(), r[4].id.clone()];
    expected.sort();
    assert_eq!(node.store.kept().unwrap(), expected, "known-good R1, previous R4, current R5");
    assert!(node.dir_of(&r[0]).join("version").exists());
    assert_eq!(node.saved_state().known_good, Some(r[0].id.clone()));

    // Known-good is where rollback can go, however old.
    node.store.rollback_to(&s.hooks, &r[0].id).unwrap();
    assert_eq!(node.current(), Some(r[0].id.0.clone()));
}

#[test]
fn keep_zero_still_keeps_current_and_previous() {
    let mut node = Node::with_config(StoreConfig { keep: 0, ..StoreConfig::default() });
    let s = spec(Hooks::default(), Vec::new());
    let r: Vec<_> = (1..=3).map(|i| release(&format!("R{i}"), i, &[])).collect();
    for rel in &r {
        node.apply(&s, rel).unwrap();
    }
    let mut expected = vec![r[1].id.clone(), r[2].id.clone()];
    expected.sort();
    assert_eq!(node.store.kept().unwrap(), expected);
}

#[test]
fn only_kept_releases_can_be_marked_known_good() {
    let mut node = Node::new();
    let never = release("never applied", 1, &[]);
    let err = node.store.mark_known_good(&never.id).unwrap_err();
    assert_eq!(err.reason(), "unknown_release");
    assert_eq!(node.saved_state().known_good, None);
}
