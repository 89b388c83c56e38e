use std::net::TcpListener;
use std::sync::mpsc::Receiver;

use sluice_core::time::Dur;

use super::*;

/// Serves one canned answer per connection, in order, and sends back each request's head.
fn serve(answers: &[&'static str]) -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/healthz?full=1", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    let answers = answers.to_vec();
    thread::spawn(move || {
        for answer in answers {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (url, rx)
}

fn probe(http: Option<String>, command: Option<&str>, attempts: u32) -> HealthProbe {
    HealthProbe { http, command: command.map(str::to_string), timeout: Dur(5_000), attempts }
}

fn run_probe(p: &HealthProbe) -> ProbeResult {
    run(p, Path::new("/"), Path::new("/"), Duration::from_millis(1))
}

#[test]
fn http_2xx_passes_and_sends_a_proper_request() {
    let (url, requests) = serve(&["HTTP/1.1 204 No Content\r\n\r\n"]);
    assert_eq!(run_probe(&probe(Some(url.clone()), None, 1)), ProbeResult { passed: true, attempts: 1, failure: None });
    let head = requests.recv().unwrap();
    let authority = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    assert!(head.starts_with("GET /healthz?full=1 HTTP/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("Host: {authority}\r\n")), "{head}");
}

#[test]
fn http_retries_until_an_attempt_passes() {
    let (url, _requests) =
        serve(&["HTTP/1.1 503 Unavailable\r\n\r\n", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"]);
    let r = run_probe(&probe(Some(url), None, 3));
    assert!(r.passed, "{r:?}");
    assert_eq!(r.attempts, 2);
}

#[test]
fn http_failures_say_what_was_wrong() {
    let (url, _requests) = serve(&["HTTP/1.1 500 Oops\r\n\r\n", "garbage\r\n"]);
    let r = run_probe(&probe(Some(url.clone()), None, 1));
    assert_eq!(r.failure.as_deref(), Some(format!("GET {url} answered 500").as_str()));
    let r = run_probe(&probe(Some(url), None, 1));
    assert!(r.failure.unwrap().contains("not an HTTP/1.x status line"));

    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let r = run_probe(&probe(Some(format!("http://{closed}/")), None, 2));
    assert!(!r.passed);
    assert_eq!(r.attempts, 2);
}

#[test]
fn http_probe_gives_up_at_its_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let err = http_check(&url, Duration::from_millis(200)).unwrap_err();
    assert!(err.contains("200ms") || err.contains("timed out") || err.contains("temporarily unavailable"), "{err}");
}

#[test]
fn parses_only_plain_http_urls() {
    let t = parse_url("http://[::1]:8080/a").unwrap();
    assert_eq!((t.host.as_str(), t.port, t.path.as_str(), t.authority.as_str()), ("::1", 8080, "/a", "[::1]:8080"));
    let t = parse_url("http://example.invalid?x=1#frag").unwrap();
    assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("example.invalid", 80, "/?x=1"));
    for bad in
        ["https://h/", "ftp://h", "http://", "http://u@h/", "http://h:99999/", "http://h/a b", "http://h/\r\nX: y"]
    {
        assert!(parse_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn status_lines() {
    assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
    assert_eq!(parse_status_line(b"HTTP/1.0 404"), Some(404));
    assert_eq!(parse_status_line(b"HTTP/2 200\r\n"), None);
    assert_eq!(parse_status_line(b"HTTP/1.1 20x\r\n"), None);
}

#[test]
fn command_probe_tries_every_attempt() {
    let r = run_probe(&probe(None, Some("echo nope >&2; exit 1"), 3));
    assert!(!r.passed);
    assert_eq!(r.attempts, 3);
    assert!(r.failure.unwrap().contains("exited with status 1; stderr:\nnope"));
    assert!(run_probe(&probe(None, Some("true"), 3)).passed);
    assert_eq!(run_probe(&probe(None, None, 3)).attempts, 0);
}
