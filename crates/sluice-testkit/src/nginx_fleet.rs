//! The nginx fleet of `examples/nginx-fleet/`: 8 Debian nginx instances on loopback (1 dev,
//! 1 staging, 6 prod; labels `env` and `variant`), each managed by its own `sluice agent`
//! process, a `sluice server`, and a real Prometheus scraping the agents' probe counters; then
//! the story:
//!
//! 0. `bootstrap` (not a step): the first site config, as an emergency rollout;
//! 1. `good-config`: a harmless change reaches all 8;
//! 2. `syntax-error`: refused by `nginx -t` (the `check` hook) on the first target, never
//!    switched; the hold it leaves is cleared;
//! 3. `variant-b-500`: valid everywhere, but `/api/` answers 502 on `variant=b` hosts (their
//!    host-local `api_local` upstream has nothing behind it); the prod gate — a PromQL query —
//!    catches it at the first prod wave holding a `variant=b` target and it is rolled back.
//!
//! Meanwhile the runner sends its own requests to every instance and watches every host's
//! `current` symlink. Every file the fleet uses comes from `examples/nginx-fleet/` (templates
//! with `@NAME@` placeholders); everything started is stopped at the end, also on error.

mod host;
pub mod procs;
pub mod report;
pub mod traffic;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde_json::Value;
use sluice_api::{ApplySpec, ClearHold, Client, NewEnrollmentTokens, RolloutView, StartRollout};
use sluice_core::engine::{Plan, Seeds, TargetInfo};
use sluice_core::release::{ReleaseFiles, ReleaseId, TargetId};
use sluice_core::spec::{GateSpec, HealthSource};
use tokio::time::Instant;

use self::host::{Host, Ports, fill, set_mode, start_nginx};
use self::procs::{Proc, find_tool};
pub use self::report::{HostView, Report, StepReport};
use self::traffic::{CurrentWatch, Traffic};
use crate::server_process::ServerProcess;

const SPEC: &str = include_str!("../../../examples/nginx-fleet/sluice.yaml");
const AGENT_YAML: &str = include_str!("../../../examples/nginx-fleet/host/agent.yaml");
const PROMETHEUS_YML: &str = include_str!("../../../examples/nginx-fleet/prometheus.yml");
const R1_INITIAL: &str = include_str!("../../../examples/nginx-fleet/releases/1-initial/site.conf");
const R2_GOOD: &str = include_str!("../../../examples/nginx-fleet/releases/2-good-config/site.conf");
const R3_SYNTAX: &str = include_str!("../../../examples/nginx-fleet/releases/3-syntax-error/site.conf");
const R4_VARIANT_B: &str = include_str!("../../../examples/nginx-fleet/releases/4-variant-b-500/site.conf");

/// The Prometheus URL written in `sluice.yaml`, replaced by the one the runner starts.
const SPEC_PROMETHEUS_URL: &str = "http://127.0.0.1:9090";
pub const SERVICE: &str = "nginx-conf";
const PIPELINE: &str = "nginx";
/// Seeds every rollout's wave order, so the runner knows the prod waves before it labels hosts.
pub const SEED: u64 = 7;
const PROD_TARGETS: usize = 6;

/// How to run the story.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `sluice` binary (server and agents).
    pub sluice_bin: PathBuf,
    /// `nginx` and `prometheus` (default: found on `PATH`, /usr/sbin, /sbin).
    pub nginx: Option<PathBuf>,
    pub prometheus: Option<PathBuf>,
    /// Keep the working directory (configs, logs, Prometheus data) instead of deleting it.
    pub keep: bool,
    /// Progress lines on stderr.
    pub progress: bool,
}

impl Options {
    pub fn new(sluice_bin: PathBuf) -> Options {
        Options { sluice_bin, nginx: None, prometheus: None, keep: false, progress: false }
    }
}

/// Tools the story needs that this machine lacks (`nginx`, `prometheus`).
pub fn missing_tools(opts: &Options) -> Vec<&'static str> {
    let mut out = Vec::new();
    if opts.nginx.clone().or_else(|| find_tool("nginx")).is_none() {
        out.push("nginx");
    }
    if opts.prometheus.clone().or_else(|| find_tool("prometheus")).is_none() {
        out.push("prometheus");
    }
    out
}

struct Ctx {
    opts: Options,
    started: Instant,
    admin: Client,
    hosts: Vec<Host>,
    _server: ServerProcess,
    prometheus: Option<Proc>,
    prod_order: Vec<String>,
    prod_wave_ends: Vec<usize>,
    prometheus_query: String,
}

impl Ctx {
    fn say(&self, msg: &str) {
        if self.opts.progress {
            eprintln!("[{:6.1}s] {msg}", self.started.elapsed().as_secs_f64());
        }
    }

    fn host(&self, id: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.id == id)
    }

    fn is_b(&self, id: &str) -> bool {
        self.host(id).is_some_and(|h| h.variant == "b")
    }

    /// Every process still running? Names the first that is not, with its log's tail.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        let mut procs: Vec<&mut Proc> = Vec::new();
        for h in &mut self.hosts {
            procs.push(&mut h.nginx);
            if let Some(a) = h.agent.as_mut() {
                procs.push(a);
            }
        }
        if let Some(p) = self.prometheus.as_mut() {
            procs.push(p);
        }
        for p in procs {
            if let Some(status) = p.exited() {
                bail!("{} exited ({status}); the end of {}:\n{}", p.name, p.log.display(), p.log_tail(15));
            }
        }
        Ok(())
    }
}

/// Runs the whole story; `Err` only when the fleet could not be set up or driven (a story
/// that ran but did not hold is `Ok` with `ok: false`).
pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let nginx = opts.nginx.clone().or_else(|| find_tool("nginx")).ok_or_else(|| anyhow!("nginx is not installed"))?;
    let prometheus = opts
        .prometheus
        .clone()
        .or_else(|| find_tool("prometheus"))
        .ok_or_else(|| anyhow!("prometheus is not installed"))?;
    if !opts.sluice_bin.is_file() {
        bail!("the sluice binary {} does not exist", opts.sluice_bin.display());
    }
    let tmp = tempfile::Builder::new().prefix("sluice-nginx-fleet-").tempdir().context("create a temp dir")?;
    // nginx workers run as `nobody` when the master is root: let them through.
    set_mode(tmp.path(), 0o755)?;
    let dir = tmp.path().to_path_buf();
    let result = run_in(opts, &dir, &nginx, &prometheus, started).await;
    if opts.keep {
        let kept = tmp.keep();
        if opts.progress {
            eprintln!("kept {}", kept.display());
        }
        return result.map(|mut r| {
            r.dir = Some(kept.display().to_string());
            r
        });
    }
    result
}

async fn run_in(
    opts: &Options,
    dir: &Path,
    nginx: &Path,
    prometheus: &Path,
    started: Instant,
) -> anyhow::Result<Report> {
    let mut ports = Ports::default();
    let prom_port = ports.take()?;
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    let spec_text = SPEC.replace(SPEC_PROMETHEUS_URL, &prom_url);

    // Label variant=b every other prod host in the seeded (label-free) order, then plan again
    // with the labels, as the server will: the prod stage spreads its waves over `variant`
    // (`spread_by`), so its first wave holds one host of each variant — the first prod wave is
    // the first that has a variant=b host, and the PromQL gate must catch it there.
    let spec = sluice_core::spec::parse_spec("sluice.yaml", &spec_text).map_err(|e| anyhow!("sluice.yaml: {e}"))?;
    let pipeline = spec.pipelines.get(PIPELINE).ok_or_else(|| anyhow!("sluice.yaml has no pipeline {PIPELINE}"))?;
    let mut plan_targets: Vec<TargetInfo> = Vec::new();
    let mut hosts_spec: Vec<(String, String)> =
        vec![("dev-1".into(), "dev".into()), ("staging-1".into(), "staging".into())];
    for i in 1..=PROD_TARGETS {
        hosts_spec.push((format!("prod-{i}"), "prod".into()));
    }
    for (id, env) in &hosts_spec {
        plan_targets.push(TargetInfo {
            id: TargetId::from(id.as_str()),
            labels: BTreeMap::from([("env".to_string(), env.clone())]),
            traffic_share: 0.0,
        });
    }
    let unlabelled = Plan::new(pipeline, &plan_targets, Seeds::for_service(SERVICE, SEED), false)?;
    let unlabelled_prod =
        unlabelled.stages.iter().find(|s| s.name == "prod").ok_or_else(|| anyhow!("no prod stage"))?;
    let variants: BTreeMap<String, String> = unlabelled_prod
        .targets
        .iter()
        .enumerate()
        .map(|(pos, t)| (t.0.clone(), if pos % 2 == 1 { "b".to_string() } else { "a".to_string() }))
        .collect();
    for t in &mut plan_targets {
        if let Some(v) = variants.get(&t.id.0) {
            t.labels.insert("variant".into(), v.clone());
        }
    }
    let plan = Plan::new(pipeline, &plan_targets, Seeds::for_service(SERVICE, SEED), false)?;
    let prod = plan.stages.iter().find(|s| s.name == "prod").ok_or_else(|| anyhow!("no prod stage"))?;
    let prod_order: Vec<String> = prod.targets.iter().map(|t| t.0.clone()).collect();
    let prod_wave_ends = prod.wave_ends.clone();
    let variant_of = |id: &str| -> String { variants.get(id).cloned().unwrap_or_else(|| "a".into()) };

    // The control plane.
    let server_addr: SocketAddr = format!("127.0.0.1:{}", ports.take()?).parse()?;
    let data = dir.join("server");
    let mut cmd = Command::new(&opts.sluice_bin);
    cmd.args(["server", "--listen", &server_addr.to_string(), "--report-interval", "1s", "--data-dir"]).arg(&data);
    cmd.env("RUST_LOG", "info");
    let server = ServerProcess::start(cmd, server_addr, &data, Duration::from_secs(30)).await?;
    let admin = server.admin()?;
    admin.apply_spec(&ApplySpec { text: spec_text.clone(), file: Some("sluice.yaml".into()), force: false }).await?;

    let mut ctx = Ctx {
        opts: opts.clone(),
        started,
        admin,
        hosts: Vec::new(),
        _server: server,
        prometheus: None,
        prod_order: prod_order.clone(),
        prod_wave_ends,
        prometheus_query: prom_query(pipeline),
    };
    ctx.say(&format!("sluice server on {server_addr}; {} prod order {prod_order:?}", opts.sluice_bin.display()));

    // nginx instances.
    for (id, env) in &hosts_spec {
        let variant = variant_of(id);
        let host = start_nginx(dir, nginx, id, env, &variant, &mut ports).await?;
        ctx.hosts.push(host);
    }
    ctx.say("8 nginx instances serve (no site config yet)");

    // Agents.
    let tokens = ctx.admin.enrollment_tokens(&NewEnrollmentTokens { count: 8, ttl_ms: None }).await?.tokens;
    let nginx_dir = nginx.parent().map(Path::to_path_buf).unwrap_or_default();
    let path_env = match std::env::var_os("PATH") {
        Some(p) => {
            let mut dirs = vec![nginx_dir];
            dirs.extend(std::env::split_paths(&p));
            std::env::join_paths(dirs)?
        }
        None => nginx_dir.into_os_string(),
    };
    for (h, token) in ctx.hosts.iter_mut().zip(tokens) {
        let yaml = fill(
            AGENT_YAML,
            &[
                ("@SERVER@", &format!("http://{server_addr}")),
                ("@ID@", &h.id),
                ("@TOKEN@", &token),
                ("@STATE_DIR@", &h.state_dir.display().to_string()),
                ("@ENV@", &h.env),
                ("@VARIANT@", &h.variant),
                ("@SITE@", &h.site.display().to_string()),
                ("@PREFIX@", &h.prefix.display().to_string()),
                ("@PORT@", &h.port.to_string()),
            ],
        );
        std::fs::create_dir_all(&h.state_dir)?;
        let config = h.state_dir.join("agent.yaml");
        std::fs::write(&config, yaml)?;
        let mut cmd = Command::new(&opts.sluice_bin);
        cmd.args(["agent", "--config"]).arg(&config).env("RUST_LOG", "info").env("PATH", &path_env);
        h.agent = Some(Proc::spawn(&format!("agent {}", h.id), &mut cmd, &h.state_dir.join("agent.log"), false)?);
    }
    let mut metrics_addrs = Vec::new();
    for i in 0..ctx.hosts.len() {
        let file = ctx.hosts[i].state_dir.join("metrics.addr");
        let what = format!("agent {} to write {}", ctx.hosts[i].id, file.display());
        let addr = wait_until(&mut ctx, &what, Duration::from_secs(30), |_| {
            let file = file.clone();
            async move { std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<SocketAddr>().ok()) }
        })
        .await?;
        metrics_addrs.push(addr);
    }
    wait_until(&mut ctx, "all 8 agents to enroll and report", Duration::from_secs(30), |c| {
        let admin = c.admin.clone();
        async move {
            let t = admin.targets().await.ok()?;
            (t.len() == 8 && t.iter().all(|t| t.connected)).then_some(())
        }
    })
    .await?;
    ctx.say("8 agents enrolled");

    // Prometheus.
    let prom_dir = dir.join("prometheus");
    std::fs::create_dir_all(prom_dir.join("data"))?;
    let targets: Vec<String> = metrics_addrs.iter().map(|a| format!("'{a}'")).collect();
    let prom_config = prom_dir.join("prometheus.yml");
    std::fs::write(&prom_config, PROMETHEUS_YML.replace("@AGENTS@", &targets.join(", ")))?;
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!("--config.file={}", prom_config.display()))
        .arg(format!("--storage.tsdb.path={}", prom_dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .current_dir(&prom_dir);
    ctx.prometheus = Some(Proc::spawn("prometheus", &mut cmd, &prom_dir.join("prometheus.log"), false)?);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    wait_until(&mut ctx, "prometheus to be ready", Duration::from_secs(60), |_| {
        let (http, url) = (http.clone(), format!("{prom_url}/-/ready"));
        async move { http.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
    })
    .await?;
    wait_until(&mut ctx, "prometheus to scrape all 8 agents", Duration::from_secs(60), |_| {
        let (http, url) = (http.clone(), prom_url.clone());
        async move {
            let v = prom_instant(&http, &url, "sum(up{job=\"sluice-agents\"})").await?;
            (v.first().copied() == Some(8.0)).then_some(())
        }
    })
    .await?;
    ctx.say(&format!("prometheus on {prom_url} scrapes the 8 agents"));

    // The story.
    let watch = CurrentWatch::start(ctx.hosts.iter().map(|h| (h.id.clone(), h.site.join("current"))).collect());
    let bootstrap = rollout(&mut ctx, "bootstrap", R1_INITIAL, true).await?;
    let traffic_targets: Vec<(String, u16)> = ctx.hosts.iter().map(|h| (h.id.clone(), h.port)).collect();
    let traffic = Traffic::start(&traffic_targets, Duration::from_millis(100))?;
    let mut problems = Vec::new();
    if bootstrap.outcome.as_deref() != Some("completed") {
        problems.push(format!("bootstrap: outcome {:?}, expected completed", bootstrap.outcome));
    }

    let story = story(&mut ctx, &watch, &http, &mut problems).await;
    let traffic = traffic.stop().await;
    watch.stop().await;
    let steps = story?;

    let mut non_b_failures = 0;
    let mut b_failures = 0;
    let mut requests = 0;
    for (id, t) in &traffic {
        requests += t.requests;
        if ctx.is_b(id) {
            b_failures += t.failures;
        } else {
            non_b_failures += t.failures;
            if t.failures > 0 {
                problems.push(format!(
                    "{id} (not variant=b): {} of {} requests failed: {:?}",
                    t.failures, t.requests, t.examples
                ));
            }
        }
    }
    if requests == 0 {
        problems.push("the runner sent no requests".into());
    }
    let expected_catch_wave = expected_catch_wave(&ctx);
    let fleet = ctx
        .hosts
        .iter()
        .map(|h| HostView {
            id: h.id.clone(),
            env: h.env.clone(),
            variant: h.variant.clone(),
            port: h.port,
            prod_wave: prod_wave_of(&ctx, &h.id),
        })
        .collect();
    let report = Report {
        ok: problems.is_empty(),
        problems,
        steps,
        bootstrap,
        fleet,
        expected_catch_wave,
        non_b_failures,
        b_failures,
        requests,
        traffic,
        prometheus_query: ctx.prometheus_query.clone(),
        run_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        dir: None,
    };
    ctx.say(&format!("done: ok={}", report.ok));
    stop_all(&mut ctx);
    Ok(report)
}

/// Steps 1–3, checking what each must show.
async fn story(
    ctx: &mut Ctx,
    watch: &CurrentWatch,
    http: &reqwest::Client,
    problems: &mut Vec<String>,
) -> anyhow::Result<Vec<StepReport>> {
    let mut steps = Vec::new();

    // 1. A harmless change reaches all 8.
    let good = rollout(ctx, "good-config", R2_GOOD, false).await?;
    let good_dir = release_dir(&good.release);
    if good.outcome.as_deref() != Some("completed") {
        problems.push(format!("good-config: outcome {:?}, expected completed", good.outcome));
    }
    for h in &ctx.hosts {
        if h.current().as_deref() != Some(good_dir.as_str()) {
            problems.push(format!("good-config: {} is not on it ({:?})", h.id, h.current()));
        }
    }
    steps.push(good);

    // 2. A syntax error: refused by `nginx -t` on the first target, never switched.
    let before: Vec<(String, Option<String>)> = ctx.hosts.iter().map(|h| (h.id.clone(), h.current())).collect();
    let mut bad = rollout(ctx, "syntax-error", R3_SYNTAX, false).await?;
    let bad_dir = release_dir(&bad.release);
    let on_bad = watch.ever_on(&bad_dir);
    bad.prod_targets_ever_on_bad = Some(on_bad.iter().filter(|t| t.starts_with("prod-")).count());
    bad.prod_targets_beyond_caught_wave_on_bad = Some(0);
    if bad.outcome.as_deref() != Some("rolled_back") {
        problems.push(format!("syntax-error: outcome {:?}, expected rolled_back", bad.outcome));
    }
    if bad.stage_caught.as_deref() != Some("dev") {
        problems.push(format!("syntax-error: caught in {:?}, expected dev", bad.stage_caught));
    }
    let reason = bad.apply_failed.as_ref().and_then(|a| a.get("reason")).and_then(Value::as_str).unwrap_or("");
    if !reason.contains("check_failed") {
        problems.push(format!("syntax-error: apply failure reason {reason:?}, expected check_failed"));
    }
    if !on_bad.is_empty() {
        problems.push(format!("syntax-error: switched on {on_bad:?}"));
    }
    for (id, was) in &before {
        let now = ctx.host(id).and_then(Host::current);
        if &now != was {
            problems.push(format!("syntax-error: {id}'s current changed from {was:?} to {now:?}"));
        }
    }
    steps.push(bad);
    ctx.admin
        .clear_hold(
            SERVICE,
            &ClearHold { reason: "nginx-fleet: the syntax error never left dev; shipping again".into() },
        )
        .await
        .context("clear the hold the syntax error left")?;
    ctx.say("hold cleared");

    // 3. Valid everywhere, 502 on variant=b: the PromQL gate catches it.
    let mut b500 = rollout(ctx, "variant-b-500", R4_VARIANT_B, false).await?;
    let bad_dir = release_dir(&b500.release);
    let on_bad = watch.ever_on(&bad_dir);
    let prod_on_bad: BTreeSet<&String> = on_bad.iter().filter(|t| ctx.prod_order.contains(t)).collect();
    b500.prod_targets_ever_on_bad = Some(prod_on_bad.len());
    let expected = expected_catch_wave(ctx);
    let covered: HashSet<&String> =
        ctx.prod_order.iter().take(ctx.prod_wave_ends.get(expected.saturating_sub(1)).copied().unwrap_or(0)).collect();
    let touched: Vec<String> = ctx
        .admin
        .rollout_targets(&b500.rollout)
        .await
        .map(|v| v.touched().map(|t| t.0.clone()).collect())
        .unwrap_or_default();
    let beyond: BTreeSet<&String> = prod_on_bad
        .iter()
        .copied()
        .chain(touched.iter().filter(|t| ctx.prod_order.contains(t)))
        .filter(|t| !covered.contains(t))
        .collect();
    b500.prod_targets_beyond_caught_wave_on_bad = Some(beyond.len());
    if b500.outcome.as_deref() != Some("rolled_back") {
        problems.push(format!("variant-b-500: outcome {:?}, expected rolled_back", b500.outcome));
    }
    if b500.gate_source.as_deref() != Some("prometheus") {
        problems
            .push(format!("variant-b-500: caught by a gate with source {:?}, expected prometheus", b500.gate_source));
    }
    if b500.stage_caught.as_deref() != Some("prod") || b500.wave_caught != Some(expected) {
        problems.push(format!(
            "variant-b-500: caught at {:?} wave {:?}, expected prod wave {expected}",
            b500.stage_caught, b500.wave_caught
        ));
    }
    if !beyond.is_empty() {
        problems.push(format!("variant-b-500: prod targets beyond wave {expected} got it: {beyond:?}"));
    }
    for h in &ctx.hosts {
        if h.current().as_deref() != Some(good_dir.as_str()) {
            problems.push(format!("variant-b-500: {} is not back on good-config ({:?})", h.id, h.current()));
        }
    }
    // nginx keeps serving: the old config answers /api/ on the variant=b hosts again (a reload
    // is asynchronous: wait for it, bounded).
    for h in ctx.hosts.iter().filter(|h| h.variant == "b") {
        let url = format!("http://127.0.0.1:{}/api/", h.port);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|t| t.contains("\"version\":2")),
                _ => false,
            };
            if ok {
                break;
            }
            if Instant::now() >= deadline {
                problems.push(format!("variant-b-500: {} does not serve good-config's /api/ after the rollback", h.id));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    steps.push(b500);
    Ok(steps)
}

/// Uploads `site` as a release and runs it through the pipeline to its end.
async fn rollout(ctx: &mut Ctx, name: &str, site: &str, emergency: bool) -> anyhow::Result<StepReport> {
    let began = Instant::now();
    let files: ReleaseFiles = BTreeMap::from([("site.conf".to_string(), site.as_bytes().to_vec())]);
    let bundle = sluice_bundle::pack(&files)?;
    let created = ctx.admin.create_release(SERVICE, bundle, name).await.with_context(|| format!("{name}: upload"))?;
    let release = created.release.id;
    let start = StartRollout {
        service: SERVICE.into(),
        release: release.0.clone(),
        pipeline: None,
        emergency,
        reason: emergency.then(|| "first site config of a new fleet".to_string()),
        seed: Some(SEED),
        queue: false,
        ..StartRollout::default()
    };
    let view = ctx.admin.start_rollout(&start).await.with_context(|| format!("{name}: start the rollout"))?;
    let id = view.id.clone();
    ctx.say(&format!("{name}: rollout {id} of {}", short(&release)));
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    let view = loop {
        ctx.check_alive()?;
        if let Ok(v) = ctx.admin.rollout(&id).await {
            let pos = position(&v);
            if pos != last {
                ctx.say(&format!("{name}: {pos}"));
                last = pos;
            }
            if v.outcome.is_some() {
                break v;
            }
        }
        if Instant::now() >= deadline {
            bail!("{name}: rollout {id} did not finish within 300s (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let events = ctx.admin.events(0, 10_000, Some(&id)).await?;
    let mut step = StepReport {
        name: name.into(),
        release: release.0.clone(),
        rollout: id,
        outcome: view.outcome.map(|o| enum_str(&o)),
        duration_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
        ..StepReport::default()
    };
    let finished_at = events.iter().find(|e| e.kind == "finished").map(|e| e.at.0);
    let failed_gate = events.iter().find(|e| {
        e.kind == "gate" && e.body.get("eval").and_then(|v| v.get("verdict")).and_then(Value::as_str) == Some("fail")
    });
    let apply_failed = events.iter().find(|e| e.kind == "apply_failed");
    let caught = failed_gate.or(apply_failed);
    if let Some(e) = caught {
        step.stage_caught = e.body.get("stage").and_then(Value::as_str).map(str::to_string);
        step.verdict_to_rollback_ms = finished_at.map(|f| f.saturating_sub(e.at.0));
    }
    if let Some(e) = failed_gate {
        step.wave_caught =
            e.body.get("wave").and_then(Value::as_u64).and_then(|w| usize::try_from(w).ok()).map(|w| w + 1);
        let eval = e.body.get("eval").cloned().unwrap_or(Value::Null);
        let gate = eval.get("gate").and_then(Value::as_str).unwrap_or_default().to_string();
        step.gate_source = gate_source(&view, step.stage_caught.as_deref(), &gate);
        step.failing_gate = Some(eval);
    }
    if let Some(e) = apply_failed {
        step.apply_failed = Some(serde_json::json!({
            "target": e.body.get("target"),
            "reason": e.body.get("reason"),
        }));
        if step.wave_caught.is_none() {
            let targets = ctx.admin.rollout_targets(&step.rollout).await?;
            step.wave_caught = step
                .stage_caught
                .as_deref()
                .zip(e.body.get("target").and_then(Value::as_str))
                .and_then(|(stage, target)| targets.wave_of(stage, target));
        }
    }
    ctx.say(&format!(
        "{name}: {} (caught: {:?} wave {:?}, gate source {:?}, verdict→rolled back {:?} ms)",
        step.outcome.as_deref().unwrap_or("?"),
        step.stage_caught,
        step.wave_caught,
        step.gate_source,
        step.verdict_to_rollback_ms
    ));
    Ok(step)
}

/// `prometheus` or `agent`: the source of gate `gate` of stage `stage` in the rollout's plan.
fn gate_source(view: &RolloutView, stage: Option<&str>, gate: &str) -> Option<String> {
    let stage = view.stages.iter().find(|s| Some(s.name.as_str()) == stage)?;
    stage.gates.iter().find(|g| g.name == gate).map(|g| g.source.clone())
}

/// `prod wave 2/3 baking` for progress lines.
fn position(v: &RolloutView) -> String {
    let active = v.stages.iter().find(|s| s.state == "active" || s.state == "failed");
    match active {
        Some(s) => {
            let wave = s.waves.iter().position(|w| w.state != "passed").unwrap_or(s.waves.len().saturating_sub(1));
            format!("{} wave {}/{} {} — {}", s.name, wave + 1, s.waves.len(), s.state, v.phase)
        }
        None => v.phase.to_string(),
    }
}

/// The first prod wave (1-based) holding a variant=b host.
fn expected_catch_wave(ctx: &Ctx) -> usize {
    let first_b = ctx.prod_order.iter().position(|t| ctx.is_b(t)).unwrap_or(0);
    ctx.prod_wave_ends.iter().position(|&end| first_b < end).map_or(0, |w| w + 1)
}

fn prod_wave_of(ctx: &Ctx, id: &str) -> Option<usize> {
    let pos = ctx.prod_order.iter().position(|t| t == id)?;
    ctx.prod_wave_ends.iter().position(|&end| pos < end).map(|w| w + 1)
}

/// The prod gate's PromQL query, as written in the spec.
fn prom_query(pipeline: &sluice_core::spec::PipelineSpec) -> String {
    pipeline
        .stages
        .iter()
        .flat_map(|s| s.gates.iter())
        .filter_map(GateSpec::source)
        .map(|s| match s {
            HealthSource::Prometheus(p) => p.query.clone(),
        })
        .next()
        .unwrap_or_default()
}

/// Polls `f` every 100 ms until `Some`, checking every process is alive; fails after `within`.
async fn wait_until<T, F, Fut>(ctx: &mut Ctx, what: &str, within: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut(&Ctx) -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        ctx.check_alive()?;
        if let Some(v) = f(ctx).await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The values of an instant query's vector result; `None` when it cannot be read.
async fn prom_instant(http: &reqwest::Client, base: &str, query: &str) -> Option<Vec<f64>> {
    let resp = http.get(format!("{base}/api/v1/query")).query(&[("query", query)]).send().await.ok()?;
    let body: Value = resp.json().await.ok()?;
    let result = body.get("data")?.get("result")?.as_array()?;
    Some(result.iter().filter_map(|s| s.get("value")?.get(1)?.as_str()?.parse::<f64>().ok()).collect())
}

/// Stops agents first (they reload nginx), then nginx, then Prometheus.
fn stop_all(ctx: &mut Ctx) {
    for h in &mut ctx.hosts {
        if let Some(a) = h.agent.as_mut() {
            a.stop(Duration::from_secs(5));
        }
    }
    for h in &mut ctx.hosts {
        h.nginx.stop(Duration::from_secs(5));
    }
    if let Some(p) = ctx.prometheus.as_mut() {
        p.stop(Duration::from_secs(10));
    }
}

fn release_dir(id: &str) -> String {
    id.trim_start_matches("sha256:").to_string()
}

fn short(id: &ReleaseId) -> String {
    release_dir(&id.0).chars().take(12).collect()
}

fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
