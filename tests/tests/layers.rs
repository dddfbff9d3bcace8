//! The layout of `obs-runtime` stays what ARCHITECTURE.md describes: folders are layers,
//! imports only point down, no two files import each other in a circle, and no source
//! file grows past 500 lines.
//!
//! The check reads the source as text: every `crate::…` and `super::…` path outside
//! comments is an import of the file it names (the longest module prefix that is a file).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers from the ground up; a file may name only its own layer and those below.
/// `""` is the ground floor: the files directly under `src/` other than the façade.
const LAYERS: &[&str] = &[
    "",
    "metrics",
    "trace",
    "log",
    "observe",
    "dashboards",
    "db",
    "http",
    "init",
];

/// The façade: the crate root and the macros' plumbing may name every layer.
const FACADE: &[&str] = &["lib.rs", "private.rs"];

/// The longest a source file may be.
const MAX_LINES: usize = 500;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../obs-runtime/src")
}

/// Every `.rs` file under `dir`, as paths relative to `src()`.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(src()).expect("under src").to_path_buf());
        }
    }
}

/// The module path of a file: `metrics/counter.rs` → `["metrics", "counter"]`,
/// `metrics/mod.rs` → `["metrics"]`, `lib.rs` → `[]`.
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The file that defines module `path`, if any.
fn file_of(path: &[String], known: &BTreeSet<PathBuf>) -> Option<PathBuf> {
    if path.is_empty() {
        return Some(PathBuf::from("lib.rs"));
    }
    let joined = path.join("/");
    [format!("{joined}.rs"), format!("{joined}/mod.rs")]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| known.contains(p))
}

/// The layer of a file: its first folder, or the ground floor.
fn layer_of(file: &Path) -> Option<usize> {
    let first = file.iter().next()?.to_string_lossy().into_owned();
    let name = if file.iter().count() == 1 {
        ""
    } else {
        first.as_str()
    };
    LAYERS.iter().position(|l| *l == name)
}

/// The code of a file without comments (line comments and doc comments), so that paths
/// in documentation are not counted as imports, and without its test modules (at the end
/// of the file), whose `super` is the file itself.
fn code(text: &str) -> String {
    let end = ["#[cfg(test)]\nmod ", "#[cfg(all(test"]
        .iter()
        .filter_map(|m| text.find(m))
        .min()
        .unwrap_or(text.len());
    text[..end]
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths a file names: `crate::a::b::Item` and `super::x::Item`, each with
/// every segment that could be a module (lowercase identifiers), resolved to absolute
/// paths. `use super::{a, b}` groups are expanded one level.
fn named_modules(file: &Path, text: &str) -> Vec<Vec<String>> {
    let own = module_of(file);
    let is_mod_file = file.ends_with("mod.rs") || file == Path::new("lib.rs");
    // `super` of `metrics/counter.rs` is `metrics`; of `metrics/mod.rs` it is the root.
    let parent: Vec<String> = if is_mod_file {
        own[..own.len().saturating_sub(1)].to_vec()
    } else {
        own[..own.len() - 1].to_vec()
    };
    let code = code(text);
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut path = base.clone();
            let mut tail = rest;
            // Whether the path names a module (or an item in one), not a macro or a group.
            let mut names_path = true;
            loop {
                let end = tail
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let segment = &tail[..end];
                if segment.is_empty() && tail.starts_with('{') {
                    // A group: each lowercase first segment inside names a module, and
                    // each capitalised item is in `path` itself.
                    let close = tail.find('}').unwrap_or(tail.len());
                    names_path = false;
                    for item in tail[1..close].split(',') {
                        let first = item.trim().split("::").next().unwrap_or("");
                        if first.starts_with(char::is_lowercase) && first != "self" {
                            let mut p = path.clone();
                            p.push(first.to_owned());
                            out.push(p);
                        } else if !first.is_empty() {
                            names_path = true;
                        }
                    }
                    break;
                }
                if segment.is_empty() || segment.starts_with(char::is_uppercase) {
                    break;
                }
                if tail[end..].starts_with('!') {
                    // A macro (`crate::metric!`), not a module.
                    names_path = false;
                    break;
                }
                path.push(segment.to_owned());
                match tail[end..].strip_prefix("::") {
                    Some(next) => tail = next,
                    None => break,
                }
            }
            if names_path {
                out.push(path);
            }
        }
    }
    out
}

struct House {
    files: Vec<PathBuf>,
    /// File → the files it imports (the longest named prefix that is a file).
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

fn house() -> House {
    let mut files = Vec::new();
    collect_files(&src(), &mut files);
    files.sort();
    let known: BTreeSet<PathBuf> = files.iter().cloned().collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let text = fs::read_to_string(src().join(file)).expect("readable source");
        let mut targets = BTreeSet::new();
        for path in named_modules(file, &text) {
            let target = (0..=path.len())
                .rev()
                .find_map(|n| file_of(&path[..n], &known))
                .expect("the root always resolves");
            if &target != file {
                targets.insert(target);
            }
        }
        edges.insert(file.clone(), targets);
    }
    House { files, edges }
}

#[test]
fn imports_only_point_down() {
    let house = house();
    let mut upward = Vec::new();
    for (file, targets) in &house.edges {
        if FACADE.iter().any(|f| file == Path::new(f)) {
            continue;
        }
        let from = layer_of(file).unwrap_or_else(|| panic!("{} is in no layer", file.display()));
        for target in targets {
            if FACADE.iter().any(|f| target == Path::new(f)) {
                upward.push(format!(
                    "{} -> {} (the façade)",
                    file.display(),
                    target.display()
                ));
                continue;
            }
            let to = layer_of(target).expect("known layer");
            if to > from {
                upward.push(format!("{} -> {}", file.display(), target.display()));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up:\n{}",
        upward.join("\n")
    );
}

/// Depth-first search from `file` for a back edge: the first circle found.
fn visit<'a>(
    file: &'a PathBuf,
    edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    state: &mut BTreeMap<&'a PathBuf, u8>,
    stack: &mut Vec<&'a PathBuf>,
) -> Option<Vec<String>> {
    state.insert(file, 1);
    stack.push(file);
    for next in &edges[file] {
        match state.get(next).copied().unwrap_or(0) {
            1 => {
                let start = stack.iter().position(|f| *f == next).expect("on stack");
                let mut circle: Vec<String> = stack[start..]
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect();
                circle.push(next.display().to_string());
                return Some(circle);
            }
            0 => {
                if let Some(c) = visit(next, edges, state, stack) {
                    return Some(c);
                }
            }
            _ => {}
        }
    }
    stack.pop();
    state.insert(file, 2);
    None
}

#[test]
fn no_import_circles() {
    let house = house();
    let mut state = BTreeMap::new();
    for file in &house.files {
        if state.get(file).copied().unwrap_or(0) == 0
            && let Some(circle) = visit(file, &house.edges, &mut state, &mut Vec::new())
        {
            panic!("an import circle: {}", circle.join(" -> "));
        }
    }
}

#[test]
fn no_file_is_too_long() {
    let house = house();
    let long: Vec<String> = house
        .files
        .iter()
        .filter_map(|file| {
            let lines = fs::read_to_string(src().join(file))
                .expect("readable")
                .lines()
                .count();
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines", file.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// The check itself: a path is resolved to the file that defines it, and an upward
/// import is seen.
#[test]
fn the_check_sees_imports() {
    let file = Path::new("metrics/counter.rs");
    let text = "use super::cell::{Metric, add_f64};\nuse crate::trace::{self, layer::X};\n// crate::init::Builder in a comment\nfn f() { crate::time::clock(); crate::metric! {} }";
    let named = named_modules(file, text);
    let as_str: Vec<String> = named.iter().map(|p| p.join("::")).collect();
    assert!(as_str.contains(&"metrics::cell".to_owned()), "{as_str:?}");
    assert!(as_str.contains(&"trace::layer".to_owned()), "{as_str:?}");
    assert!(as_str.contains(&"time::clock".to_owned()), "{as_str:?}");
    assert!(!as_str.iter().any(|p| p.starts_with("init")), "{as_str:?}");
    assert_eq!(layer_of(Path::new("time.rs")), Some(0));
    assert_eq!(layer_of(Path::new("http/axum/layer.rs")), Some(7));
}
