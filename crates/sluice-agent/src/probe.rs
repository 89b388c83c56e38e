//! The post-apply health probe: a command that must exit 0, and/or an HTTP GET that must
//! answer 2xx, each within the probe's timeout, tried up to `attempts` times.
//!
//! The HTTP client is a minimal HTTP/1.1 GET over a `TcpStream` for `http://host[:port]/path`
//! URLs only: it reads the status line and nothing else.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use sluice_core::spec::HealthProbe;

use crate::hook;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// True when an attempt passed (or the probe checks nothing).
    pub passed: bool,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed, when it did.
    pub failure: Option<String>,
}

/// Runs `probe` up to its `attempts` times (at least once), waiting `retry_delay` between
/// attempts. `{release}` and `{current}` in a command are replaced by `release` and `current`;
/// the command runs in `release`.
pub fn run(probe: &HealthProbe, release: &Path, current: &Path, retry_delay: Duration) -> ProbeResult {
    if probe.http.is_none() && probe.command.is_none() {
        return ProbeResult { passed: true, attempts: 0, failure: None };
    }
    let timeout = Duration::from_millis(probe.timeout.0.max(1));
    let attempts = probe.attempts.max(1);
    let mut failure = None;
    for attempt in 1..=attempts {
        if attempt > 1 {
            thread::sleep(retry_delay);
        }
        failure = attempt_once(probe, release, current, timeout).err();
        if failure.is_none() {
            return ProbeResult { passed: true, attempts: attempt, failure: None };
        }
    }
    ProbeResult { passed: false, attempts, failure }
}

fn attempt_once(probe: &HealthProbe, release: &Path, current: &Path, timeout: Duration) -> Result<(), String> {
    if let Some(url) = &probe.http {
        http_check(url, timeout)?;
    }
    if let Some(command) = &probe.command {
        let command = hook::expand(command, release, current);
        let run = hook::run(&command, release, timeout).map_err(|e| format!("start `{command}`: {e}"))?;
        if !run.succeeded() {
            return Err(run.to_string());
        }
    }
    Ok(())
}

/// Where an `http://` URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpTarget {
    /// Host to resolve (IPv6 without brackets).
    host: String,
    port: u16,
    /// The `Host` header: the URL's authority as written.
    authority: String,
    /// Path and query, starting with `/`.
    path: String,
}

fn parse_url(url: &str) -> Result<HttpTarget, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("probe {url}: only http:// URLs are supported"))?;
    let rest = rest.split('#').next().unwrap_or_default();
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("probe {url}: expected http://host[:port]/path"));
    }
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!("probe {url}: the path has spaces or control characters"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse::<u16>().map_err(|_| format!("probe {url}: invalid port {port:?}"))?)
        }
        _ => (authority, 80),
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err(format!("probe {url}: the host is empty"));
    }
    Ok(HttpTarget { host: host.to_string(), port, authority: authority.to_string(), path })
}

/// One GET of `url`: passes on a 2xx status within `timeout` (name resolution included).
pub fn http_check(url: &str, timeout: Duration) -> Result<(), String> {
    let target = parse_url(url)?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(get_status(&target, timeout));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(code)) if (200..300).contains(&code) => Ok(()),
        Ok(Ok(code)) => Err(format!("GET {url} answered {code}")),
        Ok(Err(e)) => Err(format!("GET {url}: {e}")),
        Err(_) => Err(format!("GET {url}: no answer within {}ms", timeout.as_millis())),
    }
}

fn get_status(target: &HttpTarget, timeout: Duration) -> io::Result<u16> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{} resolves to no address", target.host));
    let mut connected = None;
    for addr in (target.host.as_str(), target.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = connected.ok_or(last)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sluice-agent\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream.write_all(request.as_bytes())?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    parse_status_line(&head)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "the answer is not an HTTP/1.x status line"))
}

fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests;
