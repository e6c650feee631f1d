//! `validate="CMD ... %s"`, shared by the kinds that replace a file's content (`file`,
//! `line`): CMD runs on the new content, written to a temp file next to the file and named
//! by `%s`, before it replaces the file, as Ansible's `validate`. The text is split into
//! words as a shell would and run without a shell (each word a quoted value), as root, with
//! no standard input. When it fails, its output and "validate refused the new content: PATH
//! is unchanged" are the step's error, and the file is left as it was.

use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

/// The command's words, each split around `%s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validate(Vec<Vec<String>>);

impl Validate {
    /// Reads `validate`, refusing at its token a text that cannot be split into words or
    /// that does not name the file with `%s`. The span is the token's, for the kind's own
    /// checks.
    pub fn read(r: &mut NodeReader<'_>) -> Option<Spanned<Validate>> {
        let v: Spanned<String> = r.nonempty("validate")?;
        let Some(words) = shlex::split(&v.value) else {
            r.error(Diag::new(Code::Validate, "cannot split `validate` into words", &v.at, "unbalanced quotes"));
            return None;
        };
        if !words.iter().any(|w| w.contains("%s")) {
            r.error(
                Diag::new(Code::Validate, "`validate` must name the file to check with %s", &v.at, "no %s")
                    .help("e.g. validate=\"nginx -t -c %s\": %s is the new content, in a temp file next to the file"),
            );
            return None;
        }
        let words = words.iter().map(|w| w.split("%s").map(str::to_string).collect()).collect();
        Some(Spanned { value: Validate(words), at: v.at })
    }

    /// Runs the command on `"$tmp"`; on failure prints its output and exits 1 (the caller's
    /// EXIT trap removes the temp file; `$p` is untouched).
    pub fn steps(&self, sh: &mut Sh) {
        sh.raw("if ! cv_out=$(");
        for (i, word) in self.0.iter().enumerate() {
            if i > 0 {
                sh.sp();
            }
            for (j, part) in word.iter().enumerate() {
                if j > 0 {
                    sh.raw("\"$tmp\"");
                }
                if !part.is_empty() || word.len() == 1 {
                    sh.q(part);
                }
            }
        }
        sh.raw(" 2>&1 </dev/null); then printf '%s\\n' \"$cv_out\" >&2; printf '%s\\n' \"validate refused the new content: $p is unchanged\" >&2; exit 1; fi\n");
    }

    #[cfg(test)]
    pub fn of(words: Vec<Vec<String>>) -> Validate {
        Validate(words)
    }
}
