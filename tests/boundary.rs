//! The pure core stays pure: `src/model`, `src/accounting` and `src/report` may not use
//! Kubernetes, AWS, async runtimes, HTTP, the file system or the clock outside their
//! tests, nor any layer of this crate above them. Three documents say so; this test makes it true. Comments and string
//! literals are not code, and `#[cfg(test)]` items and test-only files are left out.

mod support;

use std::path::{Path, PathBuf};

use support::repo;

/// Paths into crates or APIs the core must not touch, as they appear in code.
const FORBIDDEN: &[&str] = &[
    "kube::",
    "kube_runtime",
    "k8s_openapi",
    "aws_sdk_",
    "aws_config",
    "aws_smithy",
    "tokio",
    "hyper",
    "std::fs",
    "SystemTime::now",
    "Utc::now",
    "Timestamp::now",
    "Instant::now",
];

/// Each pure layer, and the layers of this crate it may use: only those below it.
const PURE: [(&str, &[&str]); 3] = [
    ("src/model", &["model"]),
    ("src/accounting", &["model", "accounting"]),
    ("src/report", &["model", "accounting", "report"]),
];

#[test]
fn the_core_and_the_report_text_touch_no_adapter_runtime_or_clock() {
    let mut offences = Vec::new();
    for (dir, below) in PURE {
        for file in rust_files(&repo().join(dir)) {
            if test_only(&file) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let code = without_test_items(&code_only(&text));
            for (number, line) in code.lines().enumerate() {
                for layer in crate_paths(line) {
                    if !below.contains(&layer.as_str()) {
                        offences.push(format!(
                            "{}:{}: crate::{layer} is not below {dir}: {}",
                            file.strip_prefix(repo()).unwrap().display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
                for word in FORBIDDEN {
                    if line.contains(word) {
                        offences.push(format!(
                            "{}:{}: {word}: {}",
                            file.strip_prefix(repo()).unwrap().display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the pure core reaches outside itself:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_must_and_ignores_comments_strings_and_tests() {
    let text = r##"
//! Nothing here uses tokio.
use std::collections::BTreeMap;
/// Unlike kube::Client, pure.
fn f() -> &'static str { "tokio::spawn in a string"; r#"std::fs"# }
fn g() { let _ = jiff::Timestamp::now(); }
#[cfg(test)]
mod tests {
    fn h() { tokio::spawn(async {}); }
}
fn i() { /* std::fs::read */ }
"##;
    let code = without_test_items(&code_only(text));
    let found: Vec<&str> = FORBIDDEN
        .iter()
        .copied()
        .filter(|w| code.contains(w))
        .collect();
    assert_eq!(found, ["Timestamp::now"], "{code}");
}

/// The top-level modules a line names through `crate::` (`crate::lock` is a helper
/// every layer may use).
fn crate_paths(line: &str) -> Vec<String> {
    line.match_indices("crate::")
        .map(|(at, _)| {
            line[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|module| !module.is_empty() && module != "lock")
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// A file its parent declares only under `#[cfg(test)]` (`tests.rs`, `properties.rs`).
fn test_only(file: &Path) -> bool {
    let name = file.file_stem().unwrap().to_str().unwrap();
    let parent = file.parent().unwrap().join("mod.rs");
    let Ok(parent) = std::fs::read_to_string(parent) else {
        return false;
    };
    let declaration = format!("mod {name};");
    let lines: Vec<&str> = parent.lines().map(str::trim).collect();
    lines.windows(2).any(|pair| {
        pair[0] == "#[cfg(test)]"
            && (pair[1] == declaration || pair[1] == format!("pub {declaration}"))
    })
}

/// The text with comments and string and char literals blanked out (lines kept).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                out.push(blank(chars[i]));
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && matches!(next, Some('#' | '"'))
            && !ident(chars.get(i.wrapping_sub(1)))
        {
            // A raw string: r"…", r#"…"#, …
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            let closing: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while j < chars.len() && !chars[j..].iter().collect::<String>().starts_with(&closing) {
                out.push(blank(chars[j]));
                j += 1;
            }
            i = j + closing.len();
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    out.push(blank(c));
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
        } else if c == '\'' && next == Some('\\') {
            // '\n', '\'', '\u{…}'
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The code with every item under `#[cfg(test)]` removed (its braces matched).
fn without_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find('{'), item.find(';')) {
            (Some(brace), semi) if semi.is_none_or(|s| brace < s) => {
                let mut depth = 0;
                let mut end = item.len();
                for (offset, c) in item[brace..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = brace + offset + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (_, Some(semi)) => semi + 1,
            _ => item.len(),
        };
        // Keep the line count, so reported line numbers stay true.
        out.extend(item[..end].chars().filter(|&c| c == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}
