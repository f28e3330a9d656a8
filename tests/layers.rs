//! The layer rules of docs/architecture.md and the size limits, checked on the source tree
//! itself so a forbidden `use` fails CI instead of waiting for a reviewer to spot it.
//!
//! Only code counts: comments and string literals are skipped, because a doc comment that
//! says "no glommio here" is not a dependency. Paths are resolved the way rustc does for
//! `crate::`, `self::` and `super::` (inline `mod x { .. }` blocks included) and grouped
//! imports are expanded, so `use super::super::storage` or `use crate::{storage, ..}` are
//! caught as surely as `use crate::storage`.

use std::fs;
use std::path::{Path, PathBuf};

/// Longest file, in lines.
const MAX_FILE_LINES: usize = 700;
/// Longest function, in lines from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 80;

#[test]
fn layers_import_only_what_they_may() {
    let mut bad = Vec::new();
    for (rel, text) in sources() {
        bad.extend(layer_violations(&rel, &text));
    }
    report("layer rule", &bad);
}

#[test]
fn no_file_over_the_line_limit() {
    let mut bad = Vec::new();
    for (rel, text) in sources() {
        let n = text.lines().count();
        if n > MAX_FILE_LINES {
            bad.push(format!("{rel}: {n} lines (limit {MAX_FILE_LINES})"));
        }
    }
    report("file size", &bad);
}

#[test]
fn no_fn_over_the_line_limit() {
    let mut bad = Vec::new();
    for (rel, text) in sources() {
        for (line, name, n) in long_fns(&text, MAX_FN_LINES) {
            bad.push(format!(
                "{rel}:{line}: fn {name} is {n} lines (limit {MAX_FN_LINES})"
            ));
        }
    }
    report("function size", &bad);
}

/// Prints every violation (not just the first) and fails if there is any.
fn report(what: &str, bad: &[String]) {
    for b in bad {
        eprintln!("{what}: {b}");
    }
    assert!(
        bad.is_empty(),
        "{} {what} violation(s):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Every `.rs` file under `src/`, as (path relative to the crate root, text), sorted.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no sources found under {}",
        root.display()
    );
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, fs::read_to_string(&p).unwrap())
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

// ---- the rules -------------------------------------------------------------------------

/// Where a path points once `crate::`/`self::`/`super::` are resolved.
#[derive(Debug, PartialEq)]
enum Target {
    /// A module path inside this crate, from its root (`["storage", "StoreMode"]`).
    Crate(Vec<String>),
    /// Anything else: an outside crate, a prelude or local name (`["glommio", ..]`).
    Other(Vec<String>),
}

/// What the layer rules say about one file's code, one message per offending mention.
fn layer_violations(rel: &str, text: &str) -> Vec<String> {
    let Some(layer) = layer_of(rel) else {
        return Vec::new();
    };
    let toks = tokenize(text);
    let mut bad = Vec::new();
    if matches!(layer.as_str(), "protocol" | "storage") {
        // The brief's rule for storage is `async fn`; an async block is no purer, so both
        // pure layers refuse the keyword outright.
        for t in toks.iter().filter(|t| t.text == "async") {
            bad.push(format!(
                "{rel}:{}: {layer} must stay synchronous (async)",
                t.line
            ));
        }
    }
    for (line, target) in paths(&toks, &module_of(rel)) {
        if let Some(why) = forbidden(&layer, &target) {
            bad.push(format!("{rel}:{line}: {layer} must not use {why}"));
        }
    }
    bad
}

/// The top-level module a file belongs to (`src/storage/store.rs` -> `storage`).
fn layer_of(rel: &str) -> Option<String> {
    let rest = rel.strip_prefix("src/")?;
    if rest.starts_with("counters") {
        // The one leaf that is a file, not a folder (`counters.rs`, `counters_tests.rs`).
        return Some("counters".to_string());
    }
    let (dir, _) = rest.split_once('/')?;
    Some(dir.to_string())
}

/// The module a file defines, from the crate root (`src/protocol/mod.rs` -> `["protocol"]`).
fn module_of(rel: &str) -> Vec<String> {
    let rest = rel.trim_start_matches("src/").trim_end_matches(".rs");
    let mut m: Vec<String> = rest.split('/').map(str::to_string).collect();
    if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        m.pop();
    }
    // `x_tests.rs` beside `x.rs` is x's `tests` module (included with `#[path]`).
    if let Some(stem) = m
        .last()
        .and_then(|f| f.strip_suffix("_tests"))
        .map(str::to_string)
    {
        m.pop();
        m.extend([stem, "tests".to_string()]);
    }
    m
}

/// Why `target` is off limits to `layer`, or None if it is allowed. Inside the crate each
/// layer may use only the modules listed for it (docs/architecture.md, "may use"); the pure
/// layers may not use an async runtime.
fn forbidden(layer: &str, target: &Target) -> Option<String> {
    let (allowed, runtime): (&[&str], bool) = match layer {
        "record" => (&["record"], true),
        "counters" => (&["counters"], true),
        "protocol" => (&["protocol", "record"], true),
        "storage" => (&["storage", "record", "counters"], true),
        "replication" => (
            &["replication", "record", "storage", "config", "counters"],
            false,
        ),
        _ => return None,
    };
    match target {
        // A bare `crate` or `super`, as in `pub(crate)`, names no item.
        Target::Crate(p) if p.is_empty() => None,
        Target::Crate(p) => {
            let first = p.first().map(String::as_str).unwrap_or("");
            (!allowed.contains(&first)).then(|| format!("crate::{}", p.join("::")))
        }
        Target::Other(p) => {
            let first = p.first().map(String::as_str).unwrap_or("");
            let async_runtime = first == "glommio" || first.starts_with("futures");
            (runtime && async_runtime).then(|| p.join("::"))
        }
    }
}

// ---- paths in code ---------------------------------------------------------------------

/// Every path in the token stream, resolved, with its line. `use a::{b, c::d}` yields
/// `a::b` and `a::c::d`; `m` is the module of the file, extended by inline `mod` blocks.
fn paths(toks: &[Tok], file_module: &[String]) -> Vec<(usize, Target)> {
    let mut out = Vec::new();
    // Inline modules open at a brace depth and close when the depth falls back to it.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i].text;
        if t == "{" {
            depth += 1;
        } else if t == "}" {
            depth -= 1;
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
        } else if t == "mod" && toks.get(i + 2).is_some_and(|x| x.text == "{") {
            inline.push((toks[i + 1].text.clone(), depth));
            depth += 1;
            i += 3;
            continue;
        }
        let starts_path =
            is_ident(t) && (i == 0 || !matches!(toks[i - 1].text.as_str(), "::" | "."));
        if !starts_path {
            i += 1;
            continue;
        }
        let mut module = file_module.to_vec();
        module.extend(inline.iter().map(|(n, _)| n.clone()));
        let mut found = Vec::new();
        i = use_tree(toks, i, Vec::new(), &mut found);
        out.extend(
            found
                .into_iter()
                .map(|(line, p)| (line, resolve(&module, p))),
        );
    }
    out
}

/// Reads one path, or a use tree with `{..}` groups, from `toks[i]`; pushes each leaf path
/// (prefixed by `prefix`) and returns the index after it.
fn use_tree(
    toks: &[Tok],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<(usize, Vec<String>)>,
) -> usize {
    let line = toks[i].line;
    loop {
        match toks.get(i).map(|t| t.text.as_str()) {
            Some("*") => {
                prefix.push("*".into());
                i += 1;
                break;
            }
            Some("{") => {
                i += 1;
                while toks.get(i).is_some_and(|t| t.text != "}") {
                    if toks[i].text == "," {
                        i += 1;
                        continue;
                    }
                    let before = i;
                    i = use_tree(toks, i, prefix.clone(), out);
                    i = i.max(before + 1);
                }
                return i + 1;
            }
            Some(s) if is_ident(s) => {
                prefix.push(s.to_string());
                i += 1;
            }
            _ => break,
        }
        if toks.get(i).is_some_and(|t| t.text == "::") {
            i += 1;
        } else {
            break;
        }
    }
    // `use a::{self, b}`: `self` names the group's prefix itself.
    if prefix.last().is_some_and(|s| s == "self") && prefix.len() > 1 {
        prefix.pop();
    }
    if !prefix.is_empty() {
        out.push((line, prefix));
    }
    i
}

/// `crate::`, `self::` and `super::` paths to where they point from `module`.
fn resolve(module: &[String], p: Vec<String>) -> Target {
    match p[0].as_str() {
        "crate" => Target::Crate(p[1..].to_vec()),
        "self" => Target::Crate(
            module
                .iter()
                .cloned()
                .chain(p[1..].iter().cloned())
                .collect(),
        ),
        "super" => {
            let ups = p.iter().take_while(|s| *s == "super").count();
            let keep = module.len().saturating_sub(ups);
            Target::Crate(
                module[..keep]
                    .iter()
                    .cloned()
                    .chain(p[ups..].iter().cloned())
                    .collect(),
            )
        }
        _ => Target::Other(p),
    }
}

fn is_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

// ---- a small Rust tokenizer: identifiers and punctuation, no comments or literals -------

#[derive(Debug)]
struct Tok {
    text: String,
    line: usize,
}

/// Identifiers (`$crate` as `crate`, `r#x` as `x`), `::` and single punctuation characters,
/// each with its 1-based line. Comments, strings, chars and numbers are dropped.
fn tokenize(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let start_line = line;
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            i = skip_block_comment(&c, i, &mut line);
        } else if ch == '"' {
            i = skip_string(&c, i, 0, &mut line);
        } else if ch == '\'' {
            i = skip_char_or_lifetime(&c, i);
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[s..i].iter().collect();
            if let Some(end) = literal_after_prefix(&c, &word, i, &mut line) {
                i = end;
            } else if word == "r"
                && c.get(i) == Some(&'#')
                && c.get(i + 1).is_some_and(|x| x.is_alphabetic() || *x == '_')
            {
                i += 1; // a raw identifier: the next round reads it without `r#`
            } else {
                toks.push(Tok {
                    text: word,
                    line: start_line,
                });
            }
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            toks.push(Tok {
                text: "::".into(),
                line,
            });
            i += 2;
        } else if ch == '$' {
            i += 1; // `$crate` in a macro is `crate`
        } else {
            toks.push(Tok {
                text: ch.to_string(),
                line,
            });
            i += 1;
        }
    }
    toks
}

/// After an identifier `word` ending at `i`: if it is the prefix of a string, byte string,
/// raw string or byte char (`b"..."`, `r#"..."#`, `br"..."`, `c"..."`, `b'x'`), the index
/// past that literal.
fn literal_after_prefix(c: &[char], word: &str, i: usize, line: &mut usize) -> Option<usize> {
    let raw = matches!(word, "r" | "br" | "cr");
    if !(raw || matches!(word, "b" | "c")) {
        return None;
    }
    if word == "b" && c.get(i) == Some(&'\'') {
        return Some(skip_char_or_lifetime(c, i));
    }
    let hashes = if raw {
        c[i..].iter().take_while(|x| **x == '#').count()
    } else {
        0
    };
    (c.get(i + hashes) == Some(&'"'))
        .then(|| skip_string(c, i + hashes, if raw { hashes + 1 } else { 0 }, line))
}

/// Skips a string starting at the quote `c[i]`; `raw` is 0 for an escaped string, else one
/// more than the number of `#` that must follow the closing quote.
fn skip_string(c: &[char], mut i: usize, raw: usize, line: &mut usize) -> usize {
    i += 1;
    while i < c.len() {
        match c[i] {
            '\\' if raw == 0 => i += 1,
            '\n' => *line += 1,
            '"' => {
                let need = raw.saturating_sub(1);
                if c[i + 1..].iter().take(need).filter(|x| **x == '#').count() == need {
                    return i + 1 + need;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Skips `'x'`, `'\n'`, `'\u{..}'` or a lifetime `'a` starting at `c[i]`.
fn skip_char_or_lifetime(c: &[char], i: usize) -> usize {
    if c.get(i + 1) == Some(&'\\') {
        let mut j = i + 2;
        while j < c.len() && c[j] != '\'' {
            j += 1;
        }
        return j + 1;
    }
    if c.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    // A lifetime or label: drop the quote and its name.
    let mut j = i + 1;
    while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
        j += 1;
    }
    j
}

fn skip_block_comment(c: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut nest = 0;
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            nest += 1;
            i += 2;
        } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
            nest -= 1;
            i += 2;
            if nest == 0 {
                return i;
            }
        } else {
            if c[i] == '\n' {
                *line += 1;
            }
            i += 1;
        }
    }
    i
}

// ---- function length -------------------------------------------------------------------

/// Functions longer than `max` lines, as (line of `fn`, name, lines). A function runs from
/// its `fn` line to the first later line that is a `}` at the `fn` line's indentation;
/// a bodiless declaration (`fn f(&self);`) and a one-line function count as short.
fn long_fns(text: &str, max: usize) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(name) = fn_name(l) else { continue };
        let indent = &l[..l.len() - l.trim_start().len()];
        let mut end = None;
        for (j, m) in lines.iter().enumerate().skip(i) {
            let t = m.trim_end();
            // The signature ended without a body: a declaration.
            if t.ends_with(';') && !lines[i..j].iter().any(|s| s.contains('{')) && !t.contains('{')
            {
                break;
            }
            if j == i && t.ends_with('}') && balanced(t) {
                end = Some(j);
                break;
            }
            if j > i && m.starts_with(indent) && m[indent.len()..].starts_with('}') {
                end = Some(j);
                break;
            }
        }
        if let Some(e) = end {
            let n = e - i + 1;
            if n > max {
                out.push((i + 1, name, n));
            }
        }
    }
    out
}

/// The name if `line` starts a function item (`pub(crate) const unsafe fn name<..>(`).
fn fn_name(line: &str) -> Option<String> {
    let mut s = line.trim_start();
    loop {
        let before = s;
        for q in [
            "pub ",
            "const ",
            "async ",
            "unsafe ",
            "default ",
            "extern \"C\" ",
            "extern ",
        ] {
            s = s.strip_prefix(q).unwrap_or(s).trim_start();
        }
        if s.starts_with("pub(") {
            s = s[s.find(')')? + 1..].trim_start();
        }
        if s == before {
            break;
        }
    }
    let rest = s.strip_prefix("fn ")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn balanced(s: &str) -> bool {
    s.matches('{').count() == s.matches('}').count() && s.contains('{')
}

// ---- the checker checks itself -------------------------------------------------------

#[test]
fn checker_catches_each_way_of_naming_a_layer() {
    let code = r##"
//! Doc comment naming crate::storage, glommio and async: not code, so not counted.
use crate::storage::StoreMode;
use crate::{config::Config, server::{conn, shard::Shard}};
use super::super::replication::wire;
const S: &str = "crate::storage in a string";
const R: &str = r#"glommio in a raw string"#;
fn f<'a>(x: &'a [u8]) -> char { let _ = crate::stats::X; 'x' }
async fn g() { glommio::yield_if_needed().await; futures_lite::future::ready(()).await }
mod tests {
    use super::super::Item;
    use super::super::super::storage::Store;
}
"##;
    let bad = layer_violations("src/protocol/text.rs", code);
    let got: Vec<&str> = bad.iter().map(|b| b.split(": ").nth(1).unwrap()).collect();
    assert_eq!(
        got,
        [
            "protocol must stay synchronous (async)",
            "protocol must not use crate::storage::StoreMode",
            "protocol must not use crate::config::Config",
            "protocol must not use crate::server::conn",
            "protocol must not use crate::server::shard::Shard",
            "protocol must not use crate::replication::wire",
            "protocol must not use crate::stats::X",
            "protocol must not use glommio::yield_if_needed",
            "protocol must not use futures_lite::future::ready",
            "protocol must not use crate::storage::Store",
        ],
        "{bad:#?}"
    );
    // Line numbers point at the code, past the comment and the multi-line string.
    assert!(bad[1].starts_with("src/protocol/text.rs:3:"), "{}", bad[1]);
    assert!(bad[9].starts_with("src/protocol/text.rs:12:"), "{}", bad[9]);
}

#[test]
fn checker_applies_each_layers_own_rule() {
    let uses = "use crate::server::shard::Shard;\nuse crate::storage::Store;\nuse crate::record::Rec;\nuse glommio::Task;\n";
    let count = |rel: &str| layer_violations(rel, uses).len();
    assert_eq!(count("src/replication/link.rs"), 1, "only crate::server");
    assert_eq!(
        count("src/storage/store.rs"),
        2,
        "crate::server and glommio"
    );
    assert_eq!(
        count("src/record/mod.rs"),
        3,
        "anything but crate::record, and no runtime"
    );
    assert_eq!(
        count("src/counters.rs"),
        4,
        "the other leaf may not even use record"
    );
    assert_eq!(
        count("src/server/conn.rs"),
        0,
        "the server may use every layer"
    );
    assert_eq!(count("src/lib.rs"), 0);
    // A record file reaching out through `super` escapes the leaf as surely as `crate::`.
    assert_eq!(
        layer_violations("src/record/codec.rs", "use super::reader;").len(),
        0
    );
    assert_eq!(
        layer_violations("src/record/codec.rs", "use super::super::stats;").len(),
        1
    );
    assert_eq!(
        layer_violations("src/record/mod.rs", "use super::*;").len(),
        1
    );
}

#[test]
fn checker_measures_functions_from_fn_to_its_brace() {
    let mut text = String::from(
        "impl X {\n    pub(crate) fn long(\n        a: u8,\n    ) -> u8\n    where\n        u8: Copy,\n    {\n",
    );
    for _ in 0..80 {
        text.push_str("        let _ = a;\n");
    }
    text.push_str(
        "        a\n    }\n\n    fn decl(&self);\n    fn one() { 1 }\n    fn short() {\n    }\n}\n",
    );
    // `long` spans its 6 signature lines, 81 body lines and its brace.
    assert_eq!(long_fns(&text, 80), [(2, "long".to_string(), 88)]);
    assert!(long_fns(&text, 88).is_empty());
    assert_eq!(fn_name("    pub const unsafe fn x<T>()"), Some("x".into()));
    assert_eq!(fn_name("    let f: fn(u8) = g;"), None);
}
