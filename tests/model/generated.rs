//! The generated test of `tests/it/order.rs` on the modelled host, with many more cases:
//! random small playbooks whose one-shot steps create, remove or rewrite what other
//! resources manage, declared in any order without `require`. Each converges in one apply
//! (at most the five exchanges of a second round), the blocks sent are what the report
//! planned, the host holds exactly what the playbook says, and a diff after it is empty,
//! in one exchange.
//!
//! The cases are drawn from a fixed seed, so a run is reproducible; the cases are split
//! over a few tests so that they run in parallel. A failure prints the smallest playbook
//! that fails.

use std::cell::Cell;

use converge::engine::Mode;
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

use crate::host::ModelHost;
use crate::run::{Book, converge};

/// What a generated playbook wants at one path.
#[derive(Debug, Clone, Copy)]
enum Wish {
    /// `file P content="vK\n"`
    Content(u8),
    /// `file P state="absent"`
    NoFile,
    /// `symlink P target=".../tK" force=#true`
    Link(u8),
    /// `symlink P state="absent"`
    NoLink,
    /// `directory P mode="0750"`
    Dir,
    /// `directory P state="absent"`
    NoDir,
    /// `line P line="line K"`, on a file an `exec` makes (declared before the line: an
    /// order the text can show)
    Line(u8),
}

/// What a one-shot `exec` step does to a path another resource manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    Junk,
    Append,
    Remove,
    OtherLink,
    MkDir,
    Chmod,
}

impl Wish {
    /// What may be done to its path and still be put right by it.
    fn hits(self) -> &'static [Hit] {
        match self {
            Wish::Content(_) => &[Hit::Junk, Hit::Append, Hit::Remove],
            Wish::NoFile | Wish::Line(_) => &[Hit::Junk, Hit::Append],
            Wish::Link(_) => &[Hit::Junk, Hit::Remove, Hit::OtherLink],
            Wish::NoLink => &[Hit::OtherLink],
            Wish::Dir => &[Hit::Remove, Hit::Chmod],
            Wish::NoDir => &[Hit::MkDir],
        }
    }
}

/// One declaration of a generated playbook.
#[derive(Debug, Clone, Copy)]
enum Item {
    Wish(usize),
    /// The `exec` that makes the file a `line` edits.
    Maker(usize),
    /// The `exec` of `hits[k]`.
    Hit(usize),
}

#[derive(Clone)]
struct Case {
    wishes: Vec<Wish>,
    /// (path index, what is done to it)
    hits: Vec<(usize, Hit)>,
    /// Declaration order.
    items: Vec<Item>,
}

impl Case {
    fn playbook(&self, dir: &str) -> String {
        let path = |s: usize| format!("{dir}/p{s}");
        let mut pb = String::new();
        for item in &self.items {
            let line = match *item {
                Item::Wish(s) => match self.wishes[s] {
                    Wish::Content(k) => format!("file \"{}\" content=\"v{k}\\n\"", path(s)),
                    Wish::NoFile => format!("file \"{}\" state=\"absent\"", path(s)),
                    Wish::Link(k) => format!("symlink \"{}\" target=\"{dir}/t{k}\" force=#true", path(s)),
                    Wish::NoLink => format!("symlink \"{}\" state=\"absent\"", path(s)),
                    Wish::Dir => format!("directory \"{}\" mode=\"0750\"", path(s)),
                    Wish::NoDir => format!("directory \"{}\" state=\"absent\"", path(s)),
                    Wish::Line(k) => format!("line \"{}\" line=\"line {k}\"", path(s)),
                },
                Item::Maker(s) => exec(&format!("make-{s}"), &format!("printf 'base\\\\n' > {}", path(s)), dir),
                Item::Hit(k) => {
                    let (s, hit) = self.hits[k];
                    let p = path(s);
                    let command = match hit {
                        Hit::Junk => format!("rm -rf -- {p} && printf 'junk\\\\n' > {p}"),
                        Hit::Append => format!("printf 'appended\\\\n' >> {p}"),
                        Hit::Remove => format!("rm -rf -- {p}"),
                        Hit::OtherLink => format!("rm -rf -- {p} && ln -s {dir}/elsewhere {p}"),
                        Hit::MkDir => format!("rm -rf -- {p} && mkdir {p}"),
                        Hit::Chmod => format!("if [ -d {p} ]; then chmod 0700 {p}; fi"),
                    };
                    exec(&format!("hit-{k}"), &command, dir)
                }
            };
            pb.push_str(&line);
            pb.push('\n');
        }
        pb
    }

    /// What is at each path, read on the host directly, as [`Case::expected`] says it.
    fn observed(&self, m: &ModelHost, dir: &str) -> String {
        use std::os::unix::fs::PermissionsExt as _;
        (0..self.wishes.len())
            .map(|s| {
                let path = format!("{dir}/p{s}");
                if let Wish::Line(k) = self.wishes[s] {
                    let text = m.read(&path).unwrap_or_default();
                    return format!("lines {}\n", text.lines().filter(|l| *l == format!("line {k}")).count());
                }
                let p = m.path(&path);
                match std::fs::symlink_metadata(&p) {
                    Err(_) => "absent\n".into(),
                    Ok(meta) if meta.file_type().is_symlink() => {
                        format!("link {}\n", std::fs::read_link(&p).expect("readlink").display())
                    }
                    Ok(meta) if meta.is_dir() => format!("dir {:o}\n", meta.permissions().mode() & 0o7777),
                    Ok(meta) if meta.is_file() => {
                        format!("file {}\n", std::fs::read_to_string(&p).expect("utf-8").replace('\n', "|"))
                    }
                    Ok(_) => "other\n".into(),
                }
            })
            .collect()
    }

    fn expected(&self, dir: &str) -> String {
        self.wishes
            .iter()
            .map(|w| match w {
                Wish::Content(k) => format!("file v{k}|\n"),
                Wish::NoFile | Wish::NoLink | Wish::NoDir => "absent\n".into(),
                Wish::Link(k) => format!("link {dir}/t{k}\n"),
                Wish::Dir => "dir 750\n".into(),
                // once, in whatever the file held last
                Wish::Line(_) => "lines 1\n".into(),
            })
            .collect()
    }
}

/// A one-shot `exec` step: it runs once, and leaves a mark it is guarded by.
fn exec(name: &str, command: &str, dir: &str) -> String {
    format!("exec \"{name}\" command=\"{{ {command}; }} && touch {dir}/.m/{name}\" creates=\"{dir}/.m/{name}\"")
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\n{}", self.playbook("/srv/cN"))
    }
}

fn wish() -> impl Strategy<Value = Wish> {
    prop_oneof![
        (0u8..3).prop_map(Wish::Content),
        Just(Wish::NoFile),
        (0u8..3).prop_map(Wish::Link),
        Just(Wish::NoLink),
        Just(Wish::Dir),
        Just(Wish::NoDir),
        (0u8..3).prop_map(Wish::Line),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (prop::collection::vec(wish(), 1..=3), prop::collection::vec((0usize..3, 0usize..3), 0..=4))
        .prop_flat_map(|(wishes, raw)| {
            let hits: Vec<(usize, Hit)> = raw
                .into_iter()
                .map(|(s, h)| {
                    let s = s % wishes.len();
                    let options = wishes[s].hits();
                    (s, options[h % options.len()])
                })
                .collect();
            let mut items: Vec<Item> = (0..wishes.len()).map(Item::Wish).collect();
            items.extend((0..wishes.len()).filter(|&s| matches!(wishes[s], Wish::Line(_))).map(Item::Maker));
            items.extend((0..hits.len()).map(Item::Hit));
            (Just(wishes), Just(hits), Just(items).prop_shuffle())
        })
        .prop_map(|(wishes, hits, mut items)| {
            // a line's file is made before the line: the one order the text must show
            for s in 0..wishes.len() {
                let at = |items: &[Item], want: fn(&Item, usize) -> bool| items.iter().position(|i| want(i, s));
                let line = at(&items, |i, s| matches!(i, Item::Wish(w) if *w == s));
                let maker = at(&items, |i, s| matches!(i, Item::Maker(m) if *m == s));
                if let (Some(l), Some(m)) = (line, maker)
                    && m > l
                {
                    items.swap(l, m);
                }
            }
            Case { wishes, hits, items }
        })
}

/// `cases` generated playbooks from the fixed seed `seed`, on one modelled host (each in
/// a directory of its own, as the container test does).
fn generated(seed: u8, cases: u32) {
    let m = ModelHost::new(&[]);
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    let mut key = [0u8; 32];
    key[0] = seed;
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let n = Cell::new(0);
    let result = runner.run(&case(), |case| {
        n.set(n.get() + 1);
        let dir = format!("/srv/c{}", n.get());
        std::fs::create_dir_all(m.path(&format!("{dir}/.m"))).expect("case directory");
        let book = Book::new(&case.playbook(&dir));
        let apply = converge(&m, &book, Mode::Apply);
        // `converge apply` exits 0
        prop_assert!(["converged", "in_sync"].contains(&apply.status().as_str()), "apply failed:\n{}", apply.human());
        prop_assert!(apply.count() <= 5, "{} exchanges:\n{}", apply.count(), apply.human());
        apply.assert_blocks_match_plan();
        prop_assert_eq!(case.observed(&m, &dir), case.expected(&dir), "on the host, after:\n{}", apply.human());
        let diff = converge(&m, &book, Mode::Diff);
        prop_assert_eq!(diff.status(), "in_sync", "a diff after the apply:\n{}", diff.human());
        prop_assert_eq!(diff.count(), 1);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// 200 cases in all, four tests of 50 that run in parallel

#[test]
fn generated_playbooks_converge_in_one_apply_in_any_order_1() {
    generated(1, 50);
}

#[test]
fn generated_playbooks_converge_in_one_apply_in_any_order_2() {
    generated(2, 50);
}

#[test]
fn generated_playbooks_converge_in_one_apply_in_any_order_3() {
    generated(3, 50);
}

#[test]
fn generated_playbooks_converge_in_one_apply_in_any_order_4() {
    generated(4, 50);
}
