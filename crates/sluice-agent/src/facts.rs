//! What the agent discovers about its target: `os` (`ID-VERSION_ID` of `/etc/os-release`,
//! e.g. `ubuntu-24.04`), `arch` (e.g. `x86_64`) and `hostname`; merged under the facts the
//! configuration gives (a configured fact wins). Stages can require coverage of these values.

use std::path::Path;

use sluice_core::labels::Labels;

/// Discovered facts, then `configured` over them.
pub fn gather(configured: &Labels) -> Labels {
    let mut facts = Labels::new();
    facts.insert("arch".to_string(), std::env::consts::ARCH.to_string());
    if let Some(os) = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| os_from_release(&text))
    {
        facts.insert("os".to_string(), os);
    }
    if let Some(host) = hostname() {
        facts.insert("hostname".to_string(), host);
    }
    facts.extend(configured.iter().map(|(k, v)| (k.clone(), v.clone())));
    facts
}

/// The host's name (`/proc/sys/kernel/hostname`, else `/etc/hostname`).
pub fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| read_small(Path::new(p)))
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty() && !s.contains(char::is_whitespace))
}

fn read_small(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    (text.len() <= 4096).then_some(text)
}

/// `ID-VERSION_ID` from the text of an os-release file (`ID` alone without a version).
pub fn os_from_release(text: &str) -> Option<String> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let value = line.trim().strip_prefix(name)?.strip_prefix('=')?;
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            (!value.is_empty()).then(|| value.to_string())
        })
    };
    let id = field("ID")?;
    Some(match field("VERSION_ID") {
        Some(version) => format!("{id}-{version}"),
        None => id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields() {
        let ubuntu = "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\n";
        assert_eq!(os_from_release(ubuntu).as_deref(), Some("ubuntu-24.04"));
        assert_eq!(os_from_release("ID=arch\nBUILD_ID=rolling\n").as_deref(), Some("arch"));
        assert_eq!(os_from_release("ID='debian'\nVERSION_ID='12'").as_deref(), Some("debian-12"));
        assert_eq!(os_from_release("NAME=x\n"), None);
    }

    #[test]
    fn configured_facts_win() {
        let configured = Labels::from([("arch".to_string(), "custom".to_string()), ("rack".into(), "r1".into())]);
        let facts = gather(&configured);
        assert_eq!(facts["arch"], "custom");
        assert_eq!(facts["rack"], "r1");
        assert_eq!(gather(&Labels::new())["arch"], std::env::consts::ARCH);
    }
}
