//! The generated playbooks of the declaration-order test, shared by the container test
//! (tests/it/order.rs) and the modelled host (tests/model/generated.rs): random small
//! playbooks whose one-shot steps create, remove or rewrite what other resources manage,
//! declared in any order without `require`, and what the host must hold after one apply.

use proptest::prelude::*;

/// What a generated playbook wants at one path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wish {
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
pub(crate) enum Hit {
    Junk,
    Append,
    Remove,
    OtherLink,
    MkDir,
    Chmod,
}

impl Wish {
    /// What may be done to its path and still be put right by it.
    pub(crate) fn hits(self) -> &'static [Hit] {
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
pub(crate) enum Item {
    Wish(usize),
    /// The `exec` that makes the file a `line` edits.
    Maker(usize),
    /// The `exec` of `hits[k]`.
    Hit(usize),
}

#[derive(Clone)]
pub(crate) struct Case {
    pub(crate) wishes: Vec<Wish>,
    /// (path index, what is done to it)
    pub(crate) hits: Vec<(usize, Hit)>,
    /// Declaration order.
    pub(crate) items: Vec<Item>,
}

impl Case {
    pub(crate) fn playbook(&self, dir: &str) -> String {
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

    pub(crate) fn expected(&self, dir: &str) -> String {
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
pub(crate) fn exec(name: &str, command: &str, dir: &str) -> String {
    format!("exec \"{name}\" command=\"{{ {command}; }} && touch {dir}/.m/{name}\" creates=\"{dir}/.m/{name}\"")
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\n{}", self.playbook("/srv/cN"))
    }
}

pub(crate) fn wish() -> impl Strategy<Value = Wish> {
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

pub(crate) fn case() -> impl Strategy<Value = Case> {
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
