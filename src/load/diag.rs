//! Problems found in stack files, with their location, collected so that one run reports all.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, NamedSource, SourceCode, SourceSpan, SpanContents,
};

use crate::stack::Origin;

/// One loaded source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown to the user (relative to the working directory when possible).
    pub display: String,
    pub path: PathBuf,
    pub text: Arc<str>,
    /// Byte offset of the start of every line, so that finding a line does not scan the file
    /// (problems and origins are located by the thousand in large stacks).
    line_starts: Arc<[usize]>,
}

impl SourceFile {
    fn new(display: String, path: PathBuf, text: Arc<str>) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            display,
            path,
            text,
            line_starts,
        }
    }

    /// Zero-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset) - 1
    }

    /// One-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let col = self.text[self.line_starts[line]..offset].chars().count() + 1;
        (line + 1, col)
    }

    pub fn origin(&self, span: &Range<usize>) -> Origin {
        let (line, column) = self.line_col(span.start);
        Origin {
            file: self.display.clone(),
            line,
            column,
        }
    }
}

/// All files of a stack and its modules; problems refer to them by index.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

/// Index of a file in [`Sources`].
pub type FileId = usize;

impl Sources {
    pub fn add(&mut self, path: &Path, text: String) -> FileId {
        let display = display_path(path);
        self.files
            .push(SourceFile::new(display, path.to_path_buf(), text.into()));
        self.files.len() - 1
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    pub fn iter(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }

    /// The location of a block header recorded as an [`Origin`]: its line, to the line's end.
    pub fn loc_of(&self, origin: &Origin) -> Option<Loc> {
        let (id, f) = self
            .files
            .iter()
            .enumerate()
            .find(|(_, f)| f.display == origin.file)?;
        let line_start = f
            .line_starts
            .get(origin.line.saturating_sub(1))
            .copied()
            .unwrap_or(f.text.len());
        let start = line_start + origin.column.saturating_sub(1);
        let end = f.text[start.min(f.text.len())..]
            .find(['\n', '{'])
            .map_or(f.text.len(), |e| start + e);
        Some(Loc {
            file: id,
            span: start..end.max(start),
        })
    }
}

/// A path relative to the working directory when it lies below it.
pub fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = cwd
        .as_deref()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path);
    rel.display().to_string()
}

/// A location in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: FileId,
    pub span: Range<usize>,
}

/// One problem in a stack.
#[derive(Debug, Clone)]
pub struct Problem {
    pub message: String,
    pub loc: Option<Loc>,
    /// Short text under the offending snippet: what was expected.
    pub label: Option<String>,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            message: message.into(),
            loc: None,
            label: None,
            help: None,
        }
    }

    pub fn at(mut self, loc: Loc) -> Self {
        self.loc = Some(loc);
        self
    }

    pub fn at_opt(mut self, loc: Option<Loc>) -> Self {
        self.loc = loc;
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found in one load, in source order.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub problems: Vec<Problem>,
    pub sources: Sources,
}

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// `file:line:col: message` lines, one per problem (machine-friendly form).
    pub fn short(&self) -> String {
        self.problems
            .iter()
            .map(|p| match &p.loc {
                Some(loc) => format!(
                    "{}: {}",
                    self.sources.get(loc.file).origin(&loc.span),
                    p.message
                ),
                None => p.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The full report: each problem with its location line, snippet, label and help.
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
        let mut out = String::new();
        for p in &self.problems {
            let report = Report::new(p, &self.sources);
            if let Some(loc) = &p.loc {
                let origin = self.sources.get(loc.file).origin(&loc.span);
                out.push_str(&format!("{origin}: "));
            }
            let mut buf = String::new();
            if handler.render_report(&mut buf, &report).is_err() {
                buf = format!("{}\n", p.message);
            }
            out.push_str(buf.trim_start());
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        let n = self.problems.len();
        out.push_str(&format!(
            "{n} problem{} found in the stack\n",
            if n == 1 { "" } else { "s" }
        ));
        out
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.short())
    }
}

impl std::error::Error for Diagnostics {}

/// Adapter from a [`Problem`] to miette's report interface.
struct Report {
    message: String,
    help: Option<String>,
    source: Option<NamedSource<Indexed>>,
    labels: Vec<LabeledSpan>,
}

impl Report {
    fn new(p: &Problem, sources: &Sources) -> Self {
        let (source, labels) = match &p.loc {
            Some(loc) => {
                let f = sources.get(loc.file);
                let len = loc.span.end.saturating_sub(loc.span.start);
                let label = LabeledSpan::new(p.label.clone(), loc.span.start, len);
                (
                    Some(NamedSource::new(f.display.clone(), Indexed(f.clone()))),
                    vec![label],
                )
            }
            None => (None, Vec::new()),
        };
        Report {
            message: p.message.clone(),
            help: p.help.clone(),
            source,
            labels,
        }
    }
}

/// A source file for miette that reads a snippet from the lines around it only: miette's own
/// reading counts lines from the start of the file for every snippet, quadratic in a report of
/// many problems in one large file.
struct Indexed(SourceFile);

impl SourceCode for Indexed {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let f = &self.0;
        let end = span.offset() + span.len();
        if end > f.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        // A window of whole lines with room around the context; miette's reading of the window
        // gives the same snippet, with lines and offsets counted from the window's start.
        let first = f
            .line_of(span.offset())
            .saturating_sub(context_lines_before + 1);
        let last = f.line_of(end) + context_lines_after + 2;
        let start = f.line_starts[first];
        let stop = f.line_starts.get(last).copied().unwrap_or(f.text.len());
        let window = &f.text[start..stop];
        let inner = SourceSpan::new((span.offset() - start).into(), span.len());
        let c = window.read_span(&inner, context_lines_before, context_lines_after)?;
        let shifted = SourceSpan::new((c.span().offset() + start).into(), c.span().len());
        Ok(Box::new(MietteSpanContents::new(
            c.data(),
            shifted,
            c.line() + first,
            c.column(),
            c.line_count() + first,
        )))
    }
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl Diagnostic for Report {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
}

/// The closest candidate to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let close_enough = |c: &str| c.len().max(word.len()).div_ceil(3);
    candidates
        .into_iter()
        // The distance is at least the difference in length: skip the costly ones that cannot
        // be close enough.
        .filter(|c| c.len().abs_diff(word.len()) <= close_enough(c))
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= close_enough(c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_for_typos() {
        let cands = ["instance_type", "image", "capacity", "subnets"];
        let cases = [
            ("instnace_type", Some("instance_type")),
            ("imgae", Some("image")),
            ("capacty", Some("capacity")),
            ("zzz", None),
        ];
        for (word, want) in cases {
            assert_eq!(did_you_mean(word, cands), want, "{word}");
        }
    }

    /// Snippets read through the line index are the ones miette reads from the whole file.
    #[test]
    fn indexed_snippets_match_miette() {
        let text = "a = 1\nbb = 22\r\n\nccc = \"é\"\nlast";
        let mut s = Sources::default();
        let id = s.add(Path::new("/x/a.hcl"), text.into());
        let indexed = Indexed(s.get(id).clone());
        for start in 0..text.len() {
            for len in 0..=(text.len() - start).min(8) {
                for ctx in 0..3 {
                    let span = SourceSpan::new(start.into(), len);
                    let want = text.read_span(&span, ctx, ctx).map_err(|e| e.to_string());
                    let got = indexed
                        .read_span(&span, ctx, ctx)
                        .map_err(|e| e.to_string());
                    let show = |c: Result<Box<dyn SpanContents>, String>| {
                        c.map(|c| {
                            (
                                c.data().to_vec(),
                                *c.span(),
                                c.line(),
                                c.column(),
                                c.line_count(),
                            )
                        })
                    };
                    assert_eq!(show(got), show(want), "span {start}+{len}, context {ctx}");
                }
            }
        }
    }

    #[test]
    fn line_and_column_are_one_based() {
        let mut s = Sources::default();
        let id = s.add(Path::new("/x/a.hcl"), "ab\ncd\n".into());
        let f = s.get(id);
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(4), (2, 2));
        assert_eq!(f.line_col(6), (3, 1));
        assert_eq!(f.line_col(99), (3, 1));
    }
}
