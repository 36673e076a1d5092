//! `cargo xtask tidy`: checks of the source tree's shape, written as code (the tidy tests of
//! rust-analyzer): no import loop between the modules of a crate, and no source file longer
//! than [`MAX_LINES`] unless [`LONG_FILES`] says why.
//!
//! **Import loops.** For each crate, every reference to a module of the same crate is read from
//! the source text: `use` trees (`crate::`, `super::`, `self::` and child-module prefixes,
//! braces expanded) and `crate::`/`super::`/`self::` paths in code. Names re-exported by the
//! crate root (`pub use event::Stats;` in `lib.rs`) are followed to the module that defines
//! them, so that a loop cannot hide behind a re-export. A module referring to its own ancestor
//! or descendant is not a loop (a child is part of its parent); every other reference becomes an
//! edge between the two siblings under the modules' closest common ancestor: `topo::run` using
//! `netns::lab` is an edge `topo -> netns`. A cycle among siblings is a loop. Comments (doc
//! links too) and the `#[cfg(test)]` module at the end of a file are left out: tests may reach
//! anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// Source files longer than this need an entry in [`LONG_FILES`].
pub(crate) const MAX_LINES: usize = 800;

/// Files allowed over [`MAX_LINES`], with the reason (path from the workspace root).
pub(crate) const LONG_FILES: &[(&str, &str)] = &[];

/// The source roots checked: every crate's `src/` and `tests/`, the suite's, xtask's.
fn source_roots(root: &Path) -> Result<Vec<PathBuf>> {
    let mut roots = Vec::new();
    let crates = root.join("crates");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&crates)
        .with_context(|| format!("reading {}", crates.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    names.sort();
    for krate in names
        .into_iter()
        .chain([root.join("conformance"), root.join("xtask")])
    {
        roots.push(krate.join("src"));
    }
    Ok(roots)
}

/// `cargo xtask tidy`: prints the module graph of each crate (edges between siblings), the
/// loops and the long files; fails when there is either.
pub(crate) fn run(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    for src in source_roots(root)? {
        let krate = src
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .unwrap_or(&src)
            .display()
            .to_string();
        let graph = ModuleGraph::read(&src)?;
        println!(
            "{krate}: {} modules, {} edges between siblings",
            graph.modules.len(),
            graph.sibling_edges().len()
        );
        for (from, to) in graph.sibling_edges() {
            println!("  {} -> {}", name(&from), name(&to));
        }
        for cycle in graph.loops() {
            let names: Vec<String> = cycle.iter().map(name).collect();
            problems.push(format!("{krate}: import loop {}", names.join(" <-> ")));
        }
    }
    for (file, lines) in long_files(root)? {
        problems.push(format!(
            "{file}: {lines} lines (more than {MAX_LINES}); split it along its seams or add it to LONG_FILES with the reason"
        ));
    }
    if problems.is_empty() {
        println!("tidy: no import loop, no file over {MAX_LINES} lines");
        Ok(())
    } else {
        for p in &problems {
            println!("tidy: {p}");
        }
        bail!("tidy found {} problem(s)", problems.len())
    }
}

/// Every `.rs` file under `crates/*/{src,tests,benches,examples}`, `conformance/` and
/// `xtask/src` longer than [`MAX_LINES`] and not in [`LONG_FILES`].
fn long_files(root: &Path) -> Result<Vec<(String, usize)>> {
    let mut files = Vec::new();
    for dir in ["crates", "conformance", "xtask/src"] {
        rust_files(&root.join(dir), &mut files)?;
    }
    let mut long = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        if rel.contains("/target/") || LONG_FILES.iter().any(|(f, _)| *f == rel) {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let lines = text.lines().count();
        if lines > MAX_LINES {
            long.push((rel, lines));
        }
    }
    long.sort();
    Ok(long)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// A module's path below the crate root (`[]` is the root).
type ModPath = Vec<String>;

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".to_owned()
    } else {
        m.join("::")
    }
}

/// The modules of one crate and what each refers to.
#[derive(Debug, Default)]
pub(crate) struct ModuleGraph {
    /// Module path -> the module paths its code refers to (resolved, deduplicated).
    modules: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

impl ModuleGraph {
    /// Reads every file of the crate whose `lib.rs` (or, without one, `main.rs`) is in `src`.
    pub(crate) fn read(src: &Path) -> Result<ModuleGraph> {
        let mut files = Vec::new();
        rust_files(src, &mut files)?;
        let has_lib = src.join("lib.rs").is_file();
        let mut texts = BTreeMap::new();
        for file in files {
            let rel = file.strip_prefix(src).unwrap_or(&file);
            let Some(path) = module_path(rel, has_lib) else {
                continue;
            };
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            texts.insert(path, text);
        }
        Ok(ModuleGraph::from_texts(&texts))
    }

    /// The graph of modules given as module path -> source text.
    fn from_texts(texts: &BTreeMap<ModPath, String>) -> ModuleGraph {
        let known: BTreeSet<ModPath> = texts.keys().cloned().collect();
        // Names the crate root re-exports: name -> defining module.
        let mut reexports = BTreeMap::new();
        if let Some(text) = texts.get(&Vec::new()) {
            for r in references(&code_only(text), &[], &known) {
                if let Some(last) = r.last()
                    && !known.contains(&r)
                {
                    reexports.insert(last.clone(), resolve(&r, &known, &BTreeMap::new()));
                }
            }
        }
        let mut modules = BTreeMap::new();
        for (path, text) in texts {
            let mut targets = BTreeSet::new();
            for r in references(&code_only(text), path, &known) {
                targets.insert(resolve(&r, &known, &reexports));
            }
            targets.remove(path);
            modules.insert(path.clone(), targets);
        }
        ModuleGraph { modules }
    }

    /// Edges between siblings: for each reference that is not to an ancestor or descendant,
    /// the two children of the closest common ancestor that contain the two modules.
    fn sibling_edges(&self) -> BTreeSet<(ModPath, ModPath)> {
        let mut edges = BTreeSet::new();
        for (from, targets) in &self.modules {
            for to in targets {
                let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
                if common == from.len() || common == to.len() {
                    continue;
                }
                edges.insert((from[..=common].to_vec(), to[..=common].to_vec()));
            }
        }
        edges
    }

    /// The cycles among siblings: each strongly connected set of two or more modules.
    fn loops(&self) -> Vec<Vec<ModPath>> {
        let edges = self.sibling_edges();
        let nodes: BTreeSet<&ModPath> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
        let reach = |start: &ModPath| -> BTreeSet<ModPath> {
            let mut seen = BTreeSet::new();
            let mut todo = vec![start.clone()];
            while let Some(n) = todo.pop() {
                for (a, b) in &edges {
                    if *a == n && seen.insert(b.clone()) {
                        todo.push(b.clone());
                    }
                }
            }
            seen
        };
        let reachable: BTreeMap<&ModPath, BTreeSet<ModPath>> =
            nodes.iter().map(|n| (*n, reach(n))).collect();
        let mut done = BTreeSet::new();
        let mut cycles = Vec::new();
        for n in &nodes {
            if done.contains(*n) || !reachable[n].contains(*n) {
                continue;
            }
            let scc: Vec<ModPath> = nodes
                .iter()
                .filter(|m| reachable[n].contains(**m) && reachable[*m].contains(*n))
                .map(|m| (*m).clone())
                .collect();
            done.extend(scc.iter().cloned());
            cycles.push(scc);
        }
        cycles
    }

    /// A readable list of the loops (for tests' messages).
    #[cfg(test)]
    fn describe_loops(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for cycle in self.loops() {
            let names: Vec<String> = cycle.iter().map(name).collect();
            let _ = writeln!(s, "{}", names.join(" <-> "));
        }
        s
    }
}

/// The module path of a file relative to `src`, or `None` for a file that is not part of the
/// library (a `main.rs` beside a `lib.rs`, files under `bin/`).
fn module_path(rel: &Path, has_lib: bool) -> Option<ModPath> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop()?;
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    match file.as_str() {
        "lib.rs" if parts.is_empty() => Some(parts),
        "main.rs" if parts.is_empty() => (!has_lib).then_some(parts),
        "mod.rs" => Some(parts),
        f => {
            parts.push(f.strip_suffix(".rs")?.to_owned());
            Some(parts)
        }
    }
}

/// The longest known module that `path` starts with, or, for a name the root re-exports, the
/// module that defines it.
fn resolve(
    path: &[String],
    known: &BTreeSet<ModPath>,
    reexports: &BTreeMap<String, ModPath>,
) -> ModPath {
    let module = (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains(p))
        .unwrap_or_default();
    if module.is_empty()
        && let Some(first) = path.first()
        && let Some(m) = reexports.get(first)
    {
        return m.clone();
    }
    module
}

/// The text without comments and without a `#[cfg(test)]` module and what follows it.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        let code = match line.find("//") {
            // `//` inside a string ("http://") stays: only a line comment is cut.
            Some(i) if line[..i].matches('"').count() % 2 == 0 => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Every path into the crate that `code` (the text of module `here`) names, as absolute module
/// paths plus the item names after them. `use` trees may start with a child module's name.
fn references(code: &str, here: &[String], known: &BTreeSet<ModPath>) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        if !at_word_start || !is_ident(bytes[i]) {
            i += 1;
            continue;
        }
        let (word, end) = ident(code, i);
        let is_use = word == "use";
        let start = if is_use { skip_ws(code, end) } else { i };
        let (first, after_first) = ident(code, start);
        let base: Option<ModPath> = match first.as_str() {
            "crate" => Some(Vec::new()),
            "super" => Some(here[..here.len().saturating_sub(1)].to_vec()),
            "self" => Some(here.to_vec()),
            f if is_use && known.contains(&[here, &[f.to_owned()]].concat()) => Some(here.to_vec()),
            _ => None,
        };
        match base {
            Some(mut base) if code[after_first..].starts_with("::") || is_use => {
                let rest = if matches!(first.as_str(), "crate" | "super" | "self") {
                    // `super::super::x`
                    let mut rest = after_first;
                    while code[rest..].starts_with("::super") && first == "super" {
                        base.pop();
                        rest += "::super".len();
                    }
                    rest
                } else {
                    start
                };
                let rest = code[rest..].strip_prefix("::").map_or(rest, |_| rest + 2);
                let (trees, end) = use_tree(code, rest);
                for t in trees {
                    out.push([base.clone(), t].concat());
                }
                i = end.max(i + 1);
            }
            _ => i = end.max(i + 1),
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn ident(code: &str, at: usize) -> (String, usize) {
    let end = code[at..]
        .bytes()
        .position(|b| !is_ident(b))
        .map_or(code.len(), |n| at + n);
    (code[at..end].to_owned(), end)
}

fn skip_ws(code: &str, at: usize) -> usize {
    code[at..]
        .bytes()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(code.len(), |n| at + n)
}

/// A path or a braced use tree at `at`: the paths it expands to (segments) and where it ends.
fn use_tree(code: &str, at: usize) -> (Vec<Vec<String>>, usize) {
    let mut segments = Vec::new();
    let mut i = skip_ws(code, at);
    loop {
        if code[i..].starts_with('{') {
            let mut trees = Vec::new();
            i += 1;
            loop {
                i = skip_ws(code, i);
                if code[i..].starts_with('}') {
                    i += 1;
                    break;
                }
                if i >= code.len() {
                    break;
                }
                let (subs, end) = use_tree(code, i);
                for s in subs {
                    trees.push([segments.clone(), s].concat());
                }
                i = skip_ws(code, end);
                if code[i..].starts_with(',') {
                    i += 1;
                } else if !code[i..].starts_with('}') {
                    // Not a use tree after all (a struct literal, a block): stop here.
                    break;
                }
            }
            return (trees, i);
        }
        let (seg, end) = ident(code, i);
        if seg.is_empty() {
            return (vec![segments], i);
        }
        if seg != "self" {
            segments.push(seg);
        }
        if code[end..].starts_with("::") {
            i = end + 2;
        } else {
            return (vec![segments], end);
        }
    }
}

/// The tidy checks as tests, so that `cargo test` keeps the tree tidy between CI runs.
#[cfg(test)]
mod tests {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> ModuleGraph {
        let texts = files
            .iter()
            .map(|(path, text)| {
                let rel = Path::new(path);
                let m = module_path(rel, true).expect("a library file");
                (m, (*text).to_owned())
            })
            .collect();
        ModuleGraph::from_texts(&texts)
    }

    #[test]
    fn a_loop_between_siblings_is_found() {
        let g = graph(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b.rs", "use crate::{a::{self, A}};\npub struct B;\n"),
        ]);
        assert_eq!(g.describe_loops(), "a <-> b\n");
    }

    #[test]
    fn a_loop_through_a_reexport_and_super_paths_is_found() {
        let g = graph(&[
            ("lib.rs", "mod a;\nmod b;\npub use a::A;\n"),
            ("a.rs", "pub struct A(super::b::B);\n"),
            ("b.rs", "use crate::A;\npub struct B;\n"),
        ]);
        assert_eq!(g.describe_loops(), "a <-> b\n");
    }

    #[test]
    fn a_loop_between_folders_counts_at_the_folders() {
        let g = graph(&[
            ("lib.rs", "mod topo;\nmod netns;\n"),
            ("topo/mod.rs", "mod run;\nmod suite;\n"),
            ("topo/run.rs", "pub struct Conductor;\n"),
            ("topo/suite.rs", "fn f() { crate::netns::run::go() }\n"),
            ("netns/mod.rs", "mod run;\n"),
            (
                "netns/run.rs",
                "use crate::topo::run::Conductor;\npub fn go() {}\n",
            ),
        ]);
        assert_eq!(g.describe_loops(), "netns <-> topo\n");
    }

    #[test]
    fn parents_children_comments_and_tests_are_not_loops() {
        let g = graph(&[
            ("lib.rs", "mod agent;\nmod event;\n"),
            (
                "agent/mod.rs",
                "mod pair;\nuse pair::Pair;\nuse crate::event::E;\npub struct Agent;\n",
            ),
            (
                "agent/pair.rs",
                "use super::Agent;\n// crate::event uses us? no: a comment\npub struct Pair;\n",
            ),
            (
                "event.rs",
                "/// See [`crate::agent`].\npub struct E;\n#[cfg(test)]\nmod tests {\n    use crate::agent::Agent;\n}\n",
            ),
        ]);
        assert_eq!(g.describe_loops(), "");
        assert_eq!(g.sibling_edges().len(), 1, "{:?}", g.sibling_edges());
    }

    #[test]
    fn the_workspace_has_no_import_loop() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root");
        for src in source_roots(root).expect("the crates") {
            let g = ModuleGraph::read(&src).expect("the sources");
            assert_eq!(g.describe_loops(), "", "import loops in {}", src.display());
        }
    }

    #[test]
    fn the_workspace_has_no_unexplained_long_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root");
        assert_eq!(long_files(root).expect("the sources"), Vec::new());
    }
}
