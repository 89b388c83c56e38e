//! Relative paths inside a release: the one rule for what a bundle entry, a manifest line or a
//! packed file may be called, so nothing can name a place outside the release directory.

/// The longest relative path accepted, in bytes.
const MAX_PATH_BYTES: usize = 4096;

/// Checks that `path` is a plain relative path: `/`-separated, not empty, not absolute, no
/// empty, `.` or `..` components, no backslash or NUL. Returns why not.
pub(crate) fn check(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("the name is empty");
    }
    if path.starts_with('/') {
        return Err("it is an absolute path");
    }
    if path.len() > MAX_PATH_BYTES {
        return Err("it is longer than 4096 bytes");
    }
    if path.contains('\0') {
        return Err("it contains a nul byte");
    }
    if path.contains('\\') {
        return Err("it contains a backslash");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("it has an empty component"),
            "." => return Err("it has a `.` component"),
            ".." => return Err("it has a `..` component"),
            _ => {}
        }
    }
    Ok(())
}

/// The proper ancestors of a checked path: `a/b/c` gives `a` and `a/b`.
pub(crate) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in ["a", "a.json", "conf/nginx.conf", "a/b/c.d", "..a", "a..", ".hidden", "a/.b"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_paths_that_could_leave_the_release() {
        for bad in ["", "/etc/passwd", "../evil", "a/../../evil", "a/..", "./a", "a//b", "a/", "a\\b", "a\0b", "."] {
            assert!(check(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(check(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn lists_ancestors() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}
