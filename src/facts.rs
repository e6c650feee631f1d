//! Facts: what the probe asks a host once for many resources, in the spirit of pyinfra's
//! facts. A [`Fact`] is a command plus how each resource gets its part, keyed by its
//! arguments (a path, a unit, a psql query, a supervisor program).
//!
//! A kind declares the facts its probe snippet can use ([`crate::resources::Kind::facts`]).
//! The probe script runs each distinct fact command once per host, for every key the
//! host's resources ask for (one `stat` for every path, one `sha256sum` for every file,
//! one `systemctl show` for every unit, one psql session, one `supervisorctl status`), and
//! hands each resource its part in shell variables its snippet reads, before the snippet
//! runs. A fact asked for by fewer resources than is worth a command is not run, and the
//! snippets ask on their own; so is a batch whose command fails (a path missing): every
//! snippet falls back on its own command, and a fact never changes what a probe finds,
//! only how many processes the host starts to find it (on a no-op run, the host's process
//! start-ups are most of converge's cost). The probe names no kind: it only groups needs
//! by fact.

use crate::script::Sh;

/// A command that gathers one kind of fact for many keys at once.
#[derive(Debug)]
pub struct Fact {
    /// Its name: facts run in the order of their names, so probe scripts are
    /// deterministic.
    pub name: &'static str,
    /// The fewest keys worth running it for (a batch of one is no saving).
    pub min: usize,
    /// Whether a key can be asked in the batch; one that cannot asks on its own.
    pub accepts: fn(&str) -> bool,
    /// Shell the batch's command needs, written once per script (a helper function).
    pub prelude: &'static str,
    /// Writes the batch's command for these keys, in slot order.
    pub gather: fn(&mut Sh, &[String]),
    /// Writes, before a resource's snippet, what hands it its part: its slot `k` in the
    /// batch.
    pub hand: fn(&mut Sh, usize),
}

/// One fact a resource's probe can use, for one key.
#[derive(Debug, Clone)]
pub struct Need {
    pub fact: &'static Fact,
    pub key: String,
}

impl Need {
    pub fn new(fact: &'static Fact, key: impl Into<String>) -> Need {
        Need { fact, key: key.into() }
    }
}

/// Any key.
pub fn any(_: &str) -> bool {
    true
}

/// Nothing to hand: the snippet reads the batch's output itself.
pub fn nothing(_: &mut Sh, _: usize) {}

/// Splits a batch's output, one line per key, into `cv_PREFIX_K` variables.
const SPLIT: &str = "cv_split() {\ncv_i=0\nwhile IFS= read -r cv_l; do eval \"cv_$1_$cv_i=\\$cv_l\"; cv_i=$((cv_i + 1)); done <<CV_EOF\n$2\nCV_EOF\n}\n";

/// Unsets the `cv_PREFIX_K` variables [`SPLIT`] sets, so that a slot left over from
/// anywhere is never taken for this batch's.
fn unset_slots(sh: &mut Sh, prefix: &'static str, n: usize) {
    sh.raw("unset");
    for k in 0..n {
        sh.raw(" cv_").raw(prefix).raw("_").num(k as u64);
    }
    sh.nl();
}

/// Owner, group and mode of paths: one `stat` for all. The snippet finds its line
/// (`%U:%u:%G:%g:%a`, see [`crate::resources::ownership::Ownership::probe`]) in
/// `$cv_stat`, empty when the batch could not be used (a path missing: `stat` fails and
/// no slot is set). Lines match paths by position, which the exit status makes safe:
/// `stat` prints exactly one line per operand when it succeeds.
pub static STAT: Fact = Fact {
    name: "stat",
    min: 2,
    accepts: any,
    prelude: SPLIT,
    gather: |sh, paths| {
        unset_slots(sh, "st", paths.len());
        sh.raw("cv_b=$(stat -c '%U:%u:%G:%g:%a' --");
        for p in paths {
            sh.sp().q(p);
        }
        sh.raw(" 2>/dev/null) && cv_split st \"$cv_b\"\n");
    },
    hand: |sh, k| {
        sh.raw("cv_stat=${cv_st_").num(k as u64).raw("-}\n");
    },
};

/// The sha256 of regular files: one `sha256sum` for all. The snippet finds its line in
/// `$cv_sum` (see [`crate::resources::content::Desired::probe`]), empty when the batch
/// could not be used (a path missing or not a regular file: `sha256sum` would block on a
/// FIFO and never end on a device, so the batch runs only on regular files). Paths whose
/// line would be escaped (a backslash or a newline in the name) ask on their own.
pub static SHA256: Fact = Fact {
    name: "sha256",
    min: 2,
    accepts: |p| !p.contains(['\\', '\n']),
    prelude: SPLIT,
    gather: |sh, paths| {
        unset_slots(sh, "sum", paths.len());
        sh.raw("if true");
        for p in paths {
            sh.raw(" && [ -f ").q(p).raw(" ] && [ ! -L ").q(p).raw(" ]");
        }
        sh.raw("; then cv_b=$(sha256sum --");
        for p in paths {
            sh.sp().q(p);
        }
        sh.raw(" 2>/dev/null) && cv_split sum \"$cv_b\"; fi\n");
    },
    hand: |sh, k| {
        sh.raw("cv_sum=${cv_sum_").num(k as u64).raw("-}\n");
    },
};

/// The needs of many resources grouped by fact: each key's slot in its fact's batch.
#[derive(Debug, Default)]
pub struct Batches {
    /// Per fact (by name): the fact and its keys, in slot order.
    batches: Vec<(&'static Fact, Vec<String>)>,
}

/// Where one resource finds its part of each fact it needs.
#[derive(Debug, Default, Clone)]
pub struct Slots(Vec<(&'static Fact, usize)>);

impl Batches {
    /// Groups the needs of each resource, in the order given; returns each resource's
    /// slots (before [`Batches::worth_running`] drops the batches not worth a command).
    pub fn group(needs: impl IntoIterator<Item = Vec<Need>>) -> (Batches, Vec<Slots>) {
        let mut batches: Vec<(&'static Fact, Vec<String>)> = Vec::new();
        let mut slots = Vec::new();
        for node in needs {
            let mut mine = Slots::default();
            for need in node.into_iter().filter(|n| (n.fact.accepts)(&n.key)) {
                let k = match batches.iter().position(|(f, _)| std::ptr::eq(*f, need.fact)) {
                    Some(k) => k,
                    None => {
                        batches.push((need.fact, Vec::new()));
                        batches.len() - 1
                    }
                };
                mine.0.push((need.fact, batches[k].1.len()));
                batches[k].1.push(need.key);
            }
            slots.push(mine);
        }
        batches.sort_by_key(|(f, _)| f.name);
        (Batches { batches }, slots)
    }

    fn runs(&self, fact: &Fact) -> bool {
        self.batches.iter().any(|(f, keys)| std::ptr::eq(*f, fact) && keys.len() >= f.min)
    }

    /// Writes the command of every batch worth running, each prelude once.
    pub fn gather(&self, sh: &mut Sh) {
        let mut preludes: Vec<&str> = Vec::new();
        for (fact, _) in self.batches.iter().filter(|(f, _)| self.runs(f)) {
            if !fact.prelude.is_empty() && !preludes.contains(&fact.prelude) {
                preludes.push(fact.prelude);
            }
        }
        // the preludes before any command: they only define functions
        for p in preludes {
            sh.raw(p);
        }
        for (fact, keys) in self.batches.iter().filter(|(f, _)| self.runs(f)) {
            (fact.gather)(sh, keys);
        }
    }

    /// Writes what hands a resource its part of each batch that runs.
    pub fn hand(&self, sh: &mut Sh, slots: &Slots) {
        for &(fact, k) in slots.0.iter().filter(|(f, _)| self.runs(f)) {
            (fact.hand)(sh, k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ONE: Fact = Fact {
        name: "one",
        min: 1,
        accepts: any,
        prelude: "",
        gather: |sh, _| {
            sh.raw("one\n");
        },
        hand: |sh, k| {
            sh.raw("one=").num(k as u64).nl();
        },
    };

    #[test]
    fn needs_are_grouped_by_fact_and_a_batch_too_small_is_not_run() {
        let (b, slots) = Batches::group([
            vec![Need::new(&STAT, "/a"), Need::new(&SHA256, "/a")],
            vec![Need::new(&STAT, "/b"), Need::new(&SHA256, "/b\\c"), Need::new(&ONE, "x")],
            vec![],
        ]);
        let mut sh = Sh::new();
        b.gather(&mut sh);
        let text = sh.into_text();
        // two paths for stat, one sha256 (the other name would be escaped): no sha256sum
        assert!(text.contains("stat -c '%U:%u:%G:%g:%a' -- /a /b"), "{text}");
        assert!(!text.contains("sha256sum"), "{text}");
        assert_eq!(text.matches("cv_split() {").count(), 1, "{text}");
        assert!(text.find("one\n") < text.find("cv_b=$(stat"), "facts run in the order of their names: {text}");
        let hand = |i: usize| {
            let mut sh = Sh::new();
            b.hand(&mut sh, &slots[i]);
            sh.into_text()
        };
        assert_eq!(hand(0), "cv_stat=${cv_st_0-}\n");
        assert_eq!(hand(1), "cv_stat=${cv_st_1-}\none=0\n");
        assert_eq!(hand(2), "");
    }
}
