//! Finding the line of a field path in block-style YAML, for problems found after parsing
//! (a pipeline that does not exist, waves that shrink). Best effort: `None` when the layout is
//! beyond it (flow style, anchors), and the field path is still reported.

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// `pipelines.default.stages[2].waves` — a field path as users read it.
pub fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// 1-based (line, column) of the node at `path` in `text`.
pub fn locate(text: &str, path: &[Seg]) -> Option<(u64, u64)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0usize; // first line to search
    let mut min_indent: isize = -1; // the found node must be indented more than its parent
    let mut found = None;
    for seg in path {
        match seg {
            Seg::Key(k) => {
                let (li, col) = find_key(&lines, start, min_indent, k)?;
                found = Some((li, col));
                start = li + 1;
                min_indent = col as isize;
                // A value on the same line (`key: value`) is the node itself.
            }
            Seg::Index(i) => {
                let (li, col) = find_item(&lines, start, min_indent, *i)?;
                found = Some((li, col));
                // Keys of this item may sit on the same line (`- name: x`).
                start = li;
                min_indent = col as isize - 1;
            }
        }
    }
    found.map(|(l, c)| (l as u64 + 1, c as u64 + 1))
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

fn find_key(lines: &[&str], start: usize, min_indent: isize, key: &str) -> Option<(usize, usize)> {
    // Keys of this mapping sit at one column (the first key's); deeper ones belong to children
    // (`services.web.pipelines` is not the top-level `pipelines`).
    let mut child_col: Option<usize> = None;
    for (li, line) in lines.iter().enumerate().skip(start) {
        if is_blank(line) {
            continue;
        }
        let ind = indent_of(line);
        // Leaving the parent's block: stop (except for a `- key:` on the parent's own line).
        if (ind as isize) <= min_indent && li != start {
            return None;
        }
        let mut body = &line[ind..];
        let mut col = ind;
        while let Some(rest) = body.strip_prefix("- ") {
            body = rest.trim_start();
            col = line.len() - body.len();
        }
        if (col as isize) <= min_indent {
            continue;
        }
        match child_col {
            None => child_col = Some(col),
            Some(c) if c != col => continue,
            _ => {}
        }
        let unq = body.trim_start_matches(['"', '\'']);
        if let Some(after) = unq.strip_prefix(key) {
            let after = after.trim_start_matches(['"', '\'']);
            if after.starts_with(':') {
                return Some((li, col));
            }
        }
    }
    None
}

fn find_item(lines: &[&str], start: usize, min_indent: isize, index: usize) -> Option<(usize, usize)> {
    let mut seen = 0usize;
    let mut item_col: Option<usize> = None;
    for (li, line) in lines.iter().enumerate().skip(start) {
        if is_blank(line) {
            continue;
        }
        let ind = indent_of(line);
        if (ind as isize) <= min_indent && li != start {
            return None;
        }
        let body = &line[ind..];
        if body.starts_with("- ") || body == "-" {
            match item_col {
                None => item_col = Some(ind),
                Some(c) if c != ind => continue,
                _ => {}
            }
            if seen == index {
                let after = body[1..].trim_start();
                return Some((li, line.len() - after.len()));
            }
            seen += 1;
        } else if let Some(c) = item_col
            && ind < c
        {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn finds_keys_and_items() {
        let text = "services:\n  edge:\n    pipeline: nope\npipelines:\n  default:\n    stages:\n      - name: dev\n        waves: [\"100%\"]\n      - name: prod\n        waves: [\"50%\", \"10%\"]\n";
        assert_eq!(locate(text, &[k("services"), k("edge"), k("pipeline")]), Some((3, 5)));
        assert_eq!(
            locate(text, &[k("pipelines"), k("default"), k("stages"), Seg::Index(1), k("waves")]),
            Some((10, 9))
        );
        assert_eq!(locate(text, &[k("pipelines"), k("default"), k("stages"), Seg::Index(0), k("name")]), Some((7, 9)));
        assert_eq!(locate(text, &[k("services"), k("missing")]), None);
        // A deeper key of the same name is not the one asked for.
        let text = "services:\n  web:\n    pipelines: [a]\npipelines:\n  a:\n    stages: []\n";
        assert_eq!(locate(text, &[k("pipelines"), k("a"), k("stages")]), Some((6, 5)));
    }
}
