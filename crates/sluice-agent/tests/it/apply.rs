//! The apply path on real directories with real hook processes.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use sluice_agent::{ApplyFailure, ApplyOutcome, HistoryEvent, ReleaseStore, ServiceState, StoreConfig};
use sluice_bundle::{Mode, Modes, digest, pack, pack_with_modes};
use sluice_core::release::ReleaseId;
use sluice_core::spec::{HealthProbe, Hooks, ServiceSpec};
use sluice_core::time::Dur;
use sluice_core::validate::ValidatorSpec;

use crate::support::files;

/// A node with one service, `svc`, and a log file hooks append to.
pub struct Node {
    pub root: tempfile::TempDir,
    pub store: ReleaseStore,
}

impl Node {
    pub fn new() -> Node {
        Node::with_config(StoreConfig { probe_retry_delay: Duration::from_millis(10), ..StoreConfig::default() })
    }

    pub fn with_config(config: StoreConfig) -> Node {
        let root = tempfile::tempdir().unwrap();
        let store = ReleaseStore::open(&root.path().join("state"), "svc", config).unwrap();
        Node { root, store }
    }

    pub fn log(&self) -> PathBuf {
        self.root.path().join("hooks.log")
    }

    /// Lines the hooks appended to the log.
    pub fn log_lines(&self) -> Vec<String> {
        fs::read_to_string(self.log()).unwrap_or_default().lines().map(str::to_string).collect()
    }

    pub fn apply(&mut self, spec: &ServiceSpec, release: &Release) -> Result<ApplyOutcome, Box<ApplyFailure>> {
        self.store.apply(spec, &release.bundle, &release.id.0)
    }

    /// The release the `current` symlink points to.
    pub fn current(&self) -> Option<String> {
        let target = fs::read_link(self.store.current_link()).ok()?;
        Some(format!("sha256:{}", target.strip_prefix("releases").unwrap().display()))
    }

    pub fn dir_of(&self, release: &Release) -> PathBuf {
        self.store.release_dir(&release.id).unwrap()
    }

    pub fn saved_state(&self) -> ServiceState {
        ServiceState::load(&self.store.dir().join("state.json")).unwrap()
    }
}

/// A packed release: `version` holds its name, `features.json` its features, and marker files
/// (`reload-ok`, `healthy`) make the hooks below pass.
pub struct Release {
    pub id: ReleaseId,
    pub bundle: Vec<u8>,
}

pub fn release(name: &str, features: usize, markers: &[&str]) -> Release {
    let list: Vec<String> = (0..features).map(|i| format!("{{\"name\":\"f{i}\"}}")).collect();
    let json = format!("{{\"features\":[{}]}}", list.join(","));
    let mut f = files(&[("version", name), ("features.json", &json)]);
    for m in markers {
        f.insert(m.to_string(), Vec::new());
    }
    let bundle = pack(&f).unwrap();
    Release { id: ReleaseId(digest(&bundle)), bundle }
}

pub fn spec(hooks: Hooks, validators: Vec<ValidatorSpec>) -> ServiceSpec {
    ServiceSpec {
        description: None,
        pipeline: "default".into(),
        pipelines: Vec::new(),
        files: Vec::new(),
        validators,
        hooks,
        max_bundle_bytes: 1 << 20,
    }
}

/// `reload` logs `reload <version>` and fails unless the release has `reload-ok`.
fn logging_reload(node: &Node) -> Option<String> {
    Some(format!("echo reload $(cat {{release}}/version) >> {}; test -f {{release}}/reload-ok", node.log().display()))
}

fn command_probe(command: &str, attempts: u32) -> Option<HealthProbe> {
    Some(HealthProbe { http: None, command: Some(command.to_string()), timeout: Dur::secs(10), attempts })
}

#[test]
fn a_passing_apply_switches_and_records_previous_and_current() {
    let mut node = Node::new();
    let s = spec(Hooks { reload: logging_reload(&node), ..Hooks::default() }, Vec::new());
    let (a, b) = (release("A", 1, &["reload-ok"]), release("B", 2, &["reload-ok"]));

    let first = node.apply(&s, &a).unwrap();
    assert!(first.switched);
    assert_eq!(first.previous, None);
    let second = node.apply(&s, &b).unwrap();
    assert_eq!(
        (second.release.clone(), second.previous.clone(), second.switched),
        (b.id.clone(), Some(a.id.clone()), true)
    );

    assert_eq!(node.current(), Some(b.id.0.clone()));
    assert_eq!(fs::read_to_string(node.store.current_link().join("version")).unwrap(), "B");
    let saved = node.saved_state();
    assert_eq!((saved.current, saved.previous), (Some(b.id.clone()), Some(a.id.clone())));
    let events: Vec<_> = saved.history.iter().map(|e| (e.release.0.as_str(), e.event)).collect();
    assert_eq!(events, [(a.id.0.as_str(), HistoryEvent::Applied), (b.id.0.as_str(), HistoryEvent::Applied)]);
    assert_eq!(node.log_lines(), ["reload A", "reload B"]);

    // The same release again: nothing to do, no hook runs.
    let again = node.apply(&s, &b).unwrap();
    assert!(!again.switched);
    assert_eq!(node.log_lines().len(), 2);
}

#[test]
fn a_failing_check_never_switches() {
    let mut node = Node::new();
    let (a, b) = (release("A", 1, &[]), release("B", 1, &[]));
    node.apply(&spec(Hooks::default(), Vec::new()), &a).unwrap();

    // The check sees the new release as {release} and the live one as {current}.
    let check = format!(
        "echo $(cat {{release}}/version) $(cat {{current}}/version) > {}; echo 'nginx: bad config' >&2; exit 3",
        node.log().display()
    );
    let s = spec(Hooks { check: Some(check), reload: logging_reload(&node), ..Hooks::default() }, Vec::new());
    let failure = node.apply(&s, &b).unwrap_err();

    assert_eq!(failure.reason(), "check_failed");
    assert!(!failure.switched_back);
    assert_eq!(failure.current, Some(a.id.clone()));
    let message = failure.to_string();
    assert!(message.contains("pass the check hook") && message.contains("exited with status 3"), "{message}");
    assert!(message.ends_with("stderr:\nnginx: bad config"), "{message}");
    assert_eq!(node.log_lines(), ["B A"], "check ran against B while A served; reload never ran");
    assert_eq!(node.current(), Some(a.id.0.clone()));
    assert!(!node.dir_of(&b).exists(), "the refused release is deleted");
    assert_eq!(node.store.kept().unwrap(), vec![a.id.clone()]);
    let last = node.saved_state().history.pop().unwrap();
    assert_eq!((last.event, last.reason.as_deref()), (HistoryEvent::Refused, Some("check_failed")));
}

#[test]
fn an_executable_in_the_bundle_arrives_runnable() {
    use std::os::unix::fs::PermissionsExt;
    let mut node = Node::new();
    let f = files(&[("bin/check", "#!/bin/sh\necho checked by $0 >> \"$1\"\n"), ("version", "A")]);
    let bundle = pack_with_modes(&f, &Modes::from([("bin/check".to_string(), Mode::Executable)])).unwrap();
    let a = Release { id: ReleaseId(digest(&bundle)), bundle };
    // The hook runs the file itself, not `sh file`: only the executable bit makes this pass.
    let check = format!("./bin/check {}", node.log().display());
    node.apply(&spec(Hooks { check: Some(check), ..Hooks::default() }, Vec::new()), &a).unwrap();
    assert_eq!(node.log_lines(), ["checked by ./bin/check"]);
    let mode = fs::metadata(node.dir_of(&a).join("bin/check")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);
    let mode = fs::metadata(node.dir_of(&a).join("version")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644);
}

#[test]
fn a_failing_check_on_a_fresh_node_leaves_no_current() {
    let mut node = Node::new();
    let s = spec(Hooks { check: Some("sh -c 'exit 3'".into()), ..Hooks::default() }, Vec::new());
    let failure = node.apply(&s, &release("A", 1, &[])).unwrap_err();
    assert_eq!(failure.reason(), "check_failed");
    assert_eq!(node.current(), None);
    assert!(node.store.kept().unwrap().is_empty());
}

#[test]
fn a_hung_check_is_killed_at_the_timeout() {
    let mut node =
        Node::with_config(StoreConfig { hook_timeout: Duration::from_millis(300), ..StoreConfig::default() });
    let s = spec(Hooks { check: Some("sleep 30".into()), ..Hooks::default() }, Vec::new());
    let failure = node.apply(&s, &release("A", 1, &[])).unwrap_err();
    assert_eq!(failure.reason(), "check_failed");
    assert!(failure.to_string().contains("timed out after 300ms"), "{failure}");
}

#[test]
fn a_validator_rejection_never_switches() {
    let mut node = Node::new();
    let max_items = ValidatorSpec::MaxItems { files: "features.json".into(), path: "/features".into(), max: 3 };
    let s = spec(Hooks { reload: logging_reload(&node), ..Hooks::default() }, vec![max_items]);
    let (a, b) = (release("A", 3, &["reload-ok"]), release("B", 6, &["reload-ok"]));
    node.apply(&s, &a).unwrap();

    let failure = node.apply(&s, &b).unwrap_err();
    assert_eq!(failure.reason(), "validation");
    assert!(failure.to_string().contains("features.json:/features: [max_items #0] 6 items"), "{failure}");
    assert_eq!(node.current(), Some(a.id.0.clone()));
    assert!(!node.dir_of(&b).exists());
    assert_eq!(node.log_lines(), ["reload A"]);
}

#[test]
fn growth_is_measured_against_the_current_release() {
    let mut node = Node::new();
    let growth = ValidatorSpec::MaxGrowth {
        files: "features.json".into(),
        max_ratio: 1.5,
        path: Some("/features".into()),
        min_bytes: 0,
    };
    let s = spec(Hooks::default(), vec![growth]);
    node.apply(&s, &release("A", 10, &[])).unwrap();
    node.apply(&s, &release("B", 14, &[])).unwrap();
    // 28 features is twice B's 14: the 18 November file.
    let failure = node.apply(&s, &release("C", 28, &[])).unwrap_err();
    assert_eq!(failure.reason(), "validation", "{failure}");
    assert!(failure.to_string().contains("max_growth"), "{failure}");
    // 20 is 2x A's 10 but 1.43x B's 14: the parent is the current release, B.
    node.apply(&s, &release("D", 20, &[])).unwrap();
}

#[test]
fn a_failing_consumer_check_validator_never_switches() {
    let mut node = Node::new();
    let check = ValidatorSpec::Check { command: "grep -q '\"f0\"' {release}/features.json".into(), timeout: None };
    let s = spec(Hooks::default(), vec![check]);
    node.apply(&s, &release("A", 1, &[])).unwrap();
    let failure = node.apply(&s, &release("B", 0, &[])).unwrap_err();
    assert_eq!(failure.reason(), "check_failed");
    assert!(failure.to_string().contains("pass the check validator #0"), "{failure}");
}

#[test]
fn a_failing_reload_switches_back_and_reloads_the_previous_release() {
    let mut node = Node::new();
    let s = spec(Hooks { reload: logging_reload(&node), ..Hooks::default() }, Vec::new());
    let (a, b) = (release("A", 1, &["reload-ok"]), release("B", 1, &[]));
    node.apply(&s, &a).unwrap();

    let failure = node.apply(&s, &b).unwrap_err();
    assert_eq!(failure.reason(), "reload_failed");
    assert!(failure.switched_back);
    assert_eq!(failure.current, Some(a.id.clone()));
    assert_eq!(failure.switch_back_error, None);
    assert!(failure.to_string().ends_with(&format!("; switched back to {}", a.id)), "{failure}");
    assert_eq!(node.log_lines(), ["reload A", "reload B", "reload A"], "reload ran twice for B's apply");
    assert_eq!(node.current(), Some(a.id.0.clone()));
    assert!(!node.dir_of(&b).exists());
    let saved = node.saved_state();
    assert_eq!(saved.current, Some(a.id.clone()));
    let last = saved.history.last().unwrap();
    assert_eq!((last.event, last.reason.as_deref()), (HistoryEvent::SwitchedBack, Some("reload_failed")));
}

#[test]
fn a_failing_probe_switches_back_after_every_attempt() {
    let mut node = Node::new();
    let probe_log = node.root.path().join("probe.log");
    let probe = format!("echo probe >> {}; test -f {{current}}/healthy", probe_log.display());
    let hooks = Hooks { reload: logging_reload(&node), health: command_probe(&probe, 3), ..Hooks::default() };
    let s = spec(hooks, Vec::new());
    let (a, b) = (release("A", 1, &["reload-ok", "healthy"]), release("B", 1, &["reload-ok"]));
    assert_eq!(node.apply(&s, &a).unwrap().probe_attempts, 1);

    let failure = node.apply(&s, &b).unwrap_err();
    assert_eq!(failure.reason(), "probe_failed");
    assert!(failure.switched_back);
    assert!(failure.to_string().contains("after 3 attempt(s)"), "{failure}");
    assert_eq!(fs::read_to_string(&probe_log).unwrap().lines().count(), 4, "1 for A, 3 for B");
    assert_eq!(node.log_lines(), ["reload A", "reload B", "reload A"]);
    assert_eq!(node.current(), Some(a.id.0.clone()));
    assert_eq!(fs::read_to_string(node.store.current_link().join("version")).unwrap(), "A");
}

#[test]
fn an_http_probe_answering_500_switches_back() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    thread::spawn(move || {
        // A: healthy, then B: 500 on every attempt.
        for (i, stream) in listener.incoming().enumerate() {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let answer = if i == 0 { "HTTP/1.1 200 OK\r\n\r\n" } else { "HTTP/1.1 500 Internal Server Error\r\n\r\n" };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    let mut node = Node::new();
    let health = HealthProbe { http: Some(url.clone()), command: None, timeout: Dur::secs(5), attempts: 2 };
    let s = spec(Hooks { health: Some(health), ..Hooks::default() }, Vec::new());
    let (a, b) = (release("A", 1, &[]), release("B", 1, &[]));
    node.apply(&s, &a).unwrap();
    let failure = node.apply(&s, &b).unwrap_err();
    assert_eq!(failure.reason(), "probe_failed");
    assert!(failure.to_string().contains(&format!("GET {url} answered 500")), "{failure}");
    assert_eq!(node.current(), Some(a.id.0.clone()));
}

#[test]
fn a_failure_after_the_first_switch_leaves_no_current() {
    let mut node = Node::new();
    let s = spec(Hooks { reload: logging_reload(&node), ..Hooks::default() }, Vec::new());
    let failure = node.apply(&s, &release("A", 1, &[])).unwrap_err();
    assert_eq!(failure.reason(), "reload_failed");
    assert!(failure.switched_back);
    assert_eq!(failure.current, None);
    assert!(failure.to_string().ends_with("switched back to no release"), "{failure}");
    assert_eq!(node.current(), None);
    assert_eq!(node.log_lines(), ["reload A"], "nothing to reload after switching back to nothing");
}

#[test]
fn rollback_switches_to_a_kept_release_and_reloads() {
    let mut node = Node::new();
    let s = spec(Hooks { reload: logging_reload(&node), ..Hooks::default() }, Vec::new());
    let (a, b) = (release("A", 1, &["reload-ok"]), release("B", 1, &["reload-ok"]));
    node.apply(&s, &a).unwrap();
    node.apply(&s, &b).unwrap();

    let outcome = node.store.rollback_to(&s.hooks, &a.id).unwrap();
    assert_eq!((outcome.switched, outcome.previous.clone()), (true, Some(b.id.clone())));
    assert_eq!(node.current(), Some(a.id.0.clone()));
    assert_eq!(node.log_lines(), ["reload A", "reload B", "reload A"]);
    assert_eq!(node.saved_state().history.last().unwrap().event, HistoryEvent::RolledBack);

    let unknown = ReleaseId(digest(b"never applied"));
    let failure = node.store.rollback_to(&s.hooks, &unknown).unwrap_err();
    assert_eq!(failure.reason(), "unknown_release");
    assert_eq!(node.current(), Some(a.id.0.clone()));
}

#[test]
fn a_bad_bundle_is_refused_before_anything_is_written() {
    let mut node = Node::new();
    let s = spec(Hooks::default(), Vec::new());
    let a = release("A", 1, &[]);
    node.apply(&s, &a).unwrap();
    let b = release("B", 1, &[]);
    let failure = node.store.apply(&s, &b.bundle, &digest(b"not this bundle")).unwrap_err();
    assert_eq!(failure.reason(), "digest_mismatch");
    let too_big = ServiceSpec { max_bundle_bytes: 10, ..spec(Hooks::default(), Vec::new()) };
    assert_eq!(node.apply(&too_big, &b).unwrap_err().reason(), "too_large");
    assert_eq!(node.store.kept().unwrap(), vec![a.id.clone()]);
    assert_eq!(node.current(), Some(a.id.0.clone()));
    let leftovers: Vec<_> = fs::read_dir(node.store.dir().join("releases")).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}

#[test]
fn reapplying_a_kept_release_unpacks_it_afresh() {
    let mut node = Node::new();
    let s = spec(Hooks::default(), Vec::new());
    let (a, b) = (release("A", 1, &[]), release("B", 1, &[]));
    node.apply(&s, &a).unwrap();
    node.apply(&s, &b).unwrap();
    // Someone edits the kept copy of A; applying A again restores the bundle's content.
    fs::write(node.dir_of(&a).join("version"), "tampered").unwrap();
    let outcome = node.apply(&s, &a).unwrap();
    assert_eq!((outcome.switched, outcome.previous), (true, Some(b.id.clone())));
    assert_eq!(fs::read_to_string(node.store.current_link().join("version")).unwrap(), "A");
    // A corrupt bundle for a kept release leaves the kept copy alone.
    let failure = node.store.apply(&s, b"garbage", &b.id.0).unwrap_err();
    assert_eq!(failure.reason(), "digest_mismatch");
    assert_eq!(fs::read_to_string(node.dir_of(&b).join("version")).unwrap(), "B");
}

#[test]
fn reopening_the_store_keeps_the_state() {
    let mut node = Node::new();
    let s = spec(Hooks::default(), Vec::new());
    let a = release("A", 1, &[]);
    node.apply(&s, &a).unwrap();
    let reopened = ReleaseStore::open(&node.root.path().join("state"), "svc", StoreConfig::default()).unwrap();
    assert_eq!(reopened.state(), node.store.state());
    assert!(Path::new(&reopened.current_link()).join("version").exists());
}
