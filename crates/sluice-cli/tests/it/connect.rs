//! Where the token comes from: --token/SLUICE_TOKEN, then --token-file/SLUICE_TOKEN_FILE, then
//! ./sluice-data/admin.token.

use sluice_cli::connect::{ConnError, DEFAULT_TOKEN_FILE, TokenSource, check_server_url, resolve_token};

#[test]
fn token_resolution_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("op.token");
    std::fs::write(&file, "from-file\n").unwrap();
    let default = dir.path().join("admin.token");
    std::fs::write(&default, "  from-default  \n").unwrap();

    // A given token beats both files.
    let (t, src) = resolve_token(Some("given"), Some(&file), &default).unwrap();
    assert_eq!((t.as_str(), src), ("given", TokenSource::Given));
    // Then the named file, trimmed.
    let (t, src) = resolve_token(None, Some(&file), &default).unwrap();
    assert_eq!((t.as_str(), src), ("from-file", TokenSource::File(file.clone())));
    // Then the default file.
    let (t, src) = resolve_token(None, None, &default).unwrap();
    assert_eq!((t.as_str(), src), ("from-default", TokenSource::DefaultFile(default.clone())));
    // A named file that is missing is an error, not a fall-through to the default.
    let missing = dir.path().join("missing.token");
    let e = resolve_token(None, Some(&missing), &default).unwrap_err();
    assert!(matches!(e, ConnError::ReadToken { .. }), "{e}");
    assert!(e.to_string().contains("missing.token"), "{e}");
}

#[test]
fn no_token_names_all_three_sources() {
    let dir = tempfile::tempdir().unwrap();
    let e = resolve_token(None, None, &dir.path().join(DEFAULT_TOKEN_FILE)).unwrap_err();
    let msg = e.to_string();
    for want in ["--token", "SLUICE_TOKEN", "--token-file", "SLUICE_TOKEN_FILE", "sluice-data/admin.token"] {
        assert!(msg.contains(want), "{want:?} missing from {msg}");
    }
}

#[test]
fn empty_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.token");
    std::fs::write(&empty, "\n").unwrap();
    assert!(matches!(resolve_token(Some("  "), None, &empty), Err(ConnError::EmptyToken)));
    assert!(matches!(resolve_token(None, Some(&empty), &empty), Err(ConnError::EmptyTokenFile { .. })));
}

#[test]
fn server_urls_are_checked() {
    assert!(check_server_url("http://127.0.0.1:7070").is_ok());
    assert!(check_server_url("https://sluice.example.com").is_ok());
    assert!(check_server_url("127.0.0.1:7070").is_err());
    assert!(check_server_url("ftp://x").is_err());
}
