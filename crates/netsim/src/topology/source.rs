//! Errors with places: the script's text, and the line, key and table at a byte offset.
//!
//! Every error of a script names the file, the line and the key (qualified by its table:
//! `nat[2].mapping`); [`Source`] finds them from the spans that serde and `toml` give.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

/// A script that cannot be used: where, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct TopologyError {
    /// The file name as given to [`Topology::parse`](super::Topology::parse).
    pub file: String,
    /// 1-based line of the offending key or value (the first line when unknown).
    pub line: usize,
    /// The key, qualified by its table (`nat[1].mapping`), or `-` when none applies.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// The text of a script and the name it is known by.
pub(super) struct Source<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(super) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The key at `span`, qualified by the table header above it: `[[nat]]` number 2 and key
    /// `mapping` give `nat[2].mapping`. Works for spans of keys and of values.
    fn key_at(&self, span: &Range<usize>) -> String {
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let line = &self.text[line_start..line_end];
        let key = match line.split_once('=') {
            Some((k, _)) => k.trim().to_owned(),
            None => {
                // A span inside an inline table or array spanning lines, or a bare key.
                self.text[start..span.end.min(self.text.len())]
                    .trim()
                    .to_owned()
            }
        };
        let mut key = key.trim_matches('"').to_owned();
        if let Some(inner) = inline_key(&line[..start - line_start]) {
            key = format!("{key}.{inner}");
        }
        match self.table_at(line_start) {
            Some(table) if !key.is_empty() => format!("{table}.{key}"),
            Some(table) => table,
            None if key.is_empty() => "-".to_owned(),
            None => key,
        }
    }

    /// The table or array-of-tables entry in force at `offset` (`link`, `nat[2]`).
    fn table_at(&self, offset: usize) -> Option<String> {
        let mut current: Option<String> = None;
        let mut counts: Vec<(String, usize)> = Vec::new();
        for line in self.text[..offset.min(self.text.len())].split_inclusive('\n') {
            let t = line.trim();
            if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split_once("]]")) {
                let name = name.0.trim().to_owned();
                let n = match counts.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, n)) => {
                        *n += 1;
                        *n
                    }
                    None => {
                        counts.push((name.clone(), 1));
                        1
                    }
                };
                current = Some(format!("{name}[{n}]"));
            } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split_once(']')) {
                current = Some(name.0.trim().to_owned());
            }
        }
        current
    }

    /// An error at `span`.
    pub(super) fn err(&self, span: &Range<usize>, message: impl Into<String>) -> TopologyError {
        TopologyError {
            file: self.file.to_owned(),
            line: self.line_of(span.start),
            key: self.key_at(span),
            message: message.into(),
        }
    }

    /// An error about `key` as a whole (line 1).
    pub(super) fn err_key(&self, key: &str, message: impl Into<String>) -> TopologyError {
        TopologyError {
            file: self.file.to_owned(),
            line: 1,
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// A deserialization error of `toml`/serde, with its place.
    pub(super) fn serde_err(&self, e: &toml::de::Error) -> TopologyError {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().to_owned();
        // serde names an unknown or missing key in backquotes; the span points at the key
        // (unknown) or at the table (missing).
        let mut error = self.err(&span, message.clone());
        if let Some(name) = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix))
            .and_then(|r| r.split_once('`'))
            .map(|(n, _)| n)
        {
            let table = self.table_at(span.start);
            error.key = table.map_or(name.to_owned(), |t| format!("{t}.{name}"));
        }
        if span == (0..0) {
            error.line = 1;
        }
        error
    }
}

/// A string or an array of strings (`network`, `local_type`, `remote_type`).
pub(super) type OneOrMany = Spanned<toml::Value>;

/// The strings of a [`OneOrMany`], or an error at its place.
pub(super) fn strings(src: &Source<'_>, v: &OneOrMany) -> Result<Vec<String>, TopologyError> {
    let bad = || src.err(&v.span(), "expected a string or an array of strings");
    match v.get_ref() {
        toml::Value::String(s) => Ok(vec![s.clone()]),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// Milliseconds as written in scripts.
pub(super) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// The index of the name `wanted` in `names`.
pub(super) fn find(names: &[&str], wanted: &Spanned<String>) -> Option<usize> {
    names.iter().position(|n| *n == wanted.get_ref().as_str())
}

/// The key inside a one-line inline table (`service = { kind = "turn", port = ...`) whose
/// value `before` ends in: the last `KEY =` at the table's own level, outside strings and
/// arrays. `None` when `before` is not inside an inline table's value.
fn inline_key(before: &str) -> Option<String> {
    let (_, value) = before.split_once('=')?;
    let open = value.find('{')?;
    let body = &value[open + 1..];
    let (mut depth, mut quoted, mut segment) = (0usize, false, 0usize);
    for (i, c) in body.char_indices() {
        match c {
            '"' => quoted = !quoted,
            _ if quoted => {}
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => segment = i + 1,
            _ => {}
        }
    }
    let (k, _) = body[segment..].split_once('=')?;
    let k = k.trim().trim_matches('"');
    (!k.is_empty()).then(|| k.to_owned())
}
