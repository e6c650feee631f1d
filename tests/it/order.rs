//! Declaration order as a promise: a playbook written as the docs show, with no `require`
//! between a package and what it installs, converges in one apply, and a diff after it
//! is empty. The package creates the default site a later resource removes, a file a later
//! resource writes and a file a later `line` edits: the verify after the first round finds
//! them changed by the run, and a second round, planned from that verify, converges them.
//! Checked on the host directly, with the exchanges counted from sshd's own log.

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use crate::engine::ssh_counts;
use crate::kinds::OnHost;

const PACKAGE_THEN_WHAT_IT_INSTALLS: &str = r##"package "nginx-light"
symlink "/etc/nginx/sites-enabled/default" state="absent"
file "/etc/nginx/koi-utf" content="# no charset map here\n"
line "/etc/nginx/koi-win" line="# edited by converge"
"##;

#[test]
fn what_a_package_installs_is_converged_in_the_same_apply_without_require() {
    let h = OnHost::new(PACKAGE_THEN_WHAT_IT_INSTALLS);
    let plan = h.run("diff", &[]);
    plan.expect(2);
    let (_, sessions) = ssh_counts(&h);
    let apply = h.run("apply", &[]);
    assert_eq!(apply.code, 0, "{}", apply.stdout);
    // probe, apply, verify, then the second round: apply and verify (and the count's own)
    assert_eq!(ssh_counts(&h).1 - sessions, 5 + 1, "five exchanges for a run with a second round");
    let addr = h.container.address().to_string();
    // the package's version is whatever the image's mirror had
    insta::with_settings!({ filters => vec![(r"nginx-light: \(absent\) → \S+", "nginx-light: (absent) → VERSION")] }, {
        insta::assert_snapshot!("package_then_what_it_installs_plan", plan.stdout.replace(&addr, "ADDR"));
        insta::assert_snapshot!("package_then_what_it_installs_apply", apply.stdout.replace(&addr, "ADDR"));
    });

    // on the host itself
    assert_eq!(h.sh("dpkg-query -W -f='${db:Status-Status}' nginx-light"), "installed");
    assert_eq!(h.sh("ls -A /etc/nginx/sites-enabled"), "");
    assert_eq!(h.sh("cat /etc/nginx/koi-utf"), "# no charset map here\n");
    assert_eq!(
        h.sh("grep -c 'edited by converge' /etc/nginx/koi-win; tail -n 1 /etc/nginx/koi-win"),
        "1\n# edited by converge\n"
    );
    // the rest of the file is the package's own, as dpkg recorded it
    let shipped = h.sh("dpkg-query -W -f='${Conffiles}' nginx-common | awk '$1 == \"/etc/nginx/koi-win\" {print $2}'");
    let rest = h.sh("grep -v 'edited by converge' /etc/nginx/koi-win | md5sum | cut -d' ' -f1");
    assert_eq!(rest, shipped, "the package's lines are kept");

    let diff = h.run("diff", &[]);
    diff.expect(0);
    assert!(diff.stdout.contains("nothing to change"), "{}", diff.stdout);
    let (_, sessions) = ssh_counts(&h);
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0);
    assert_eq!(ssh_counts(&h).1 - sessions, 1 + 1, "a no-op is one exchange");
}

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

    /// A shell script that prints, per path, what is there, as `expected` says it.
    fn inspect(&self, dir: &str) -> String {
        (0..self.wishes.len())
            .map(|s| match self.wishes[s] {
                Wish::Line(k) => format!("echo \"lines $(grep -cx 'line {k}' {dir}/p{s})\"\n"),
                _ => format!(
                    "p={dir}/p{s}; if [ -L $p ]; then echo \"link $(readlink $p)\"; elif [ -d $p ]; then echo \"dir $(stat -c %a $p)\"; \
                     elif [ -f $p ]; then echo \"file $(tr '\\n' '|' < $p)\"; elif [ -e $p ]; then echo other; else echo absent; fi\n"
                ),
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

/// Random small playbooks whose one-shot steps create, remove or rewrite what other
/// resources manage, declared in any order without `require`: each converges in one
/// apply (at most the five exchanges of a second round), the host holds exactly what the
/// playbook says, and a diff after it is empty. Cases are drawn afresh every run; a
/// failure prints the smallest playbook that fails.
#[test]
fn generated_playbooks_converge_in_one_apply_in_any_order() {
    let h = OnHost::new("");
    let mut runner =
        TestRunner::new(ProptestConfig { cases: 20, failure_persistence: None, ..ProptestConfig::default() });
    let n = std::cell::Cell::new(0);
    let result = runner.run(&case(), |case| {
        n.set(n.get() + 1);
        let dir = format!("/srv/c{}", n.get());
        h.sh(&format!("mkdir -p {dir}/.m"));
        let pb = case.playbook(&dir);
        h.playbook(&pb);
        let apply = h.run("apply", &["--format", "json"]);
        let report = apply.json();
        prop_assert_eq!(apply.code, 0, "apply failed:\n{}", apply.stdout);
        let exchanges = report["hosts"][0]["exchanges"].as_u64().unwrap_or(0);
        prop_assert!(exchanges <= 5, "{} exchanges", exchanges);
        prop_assert_eq!(h.sh(&case.inspect(&dir)), case.expected(&dir), "on the host");
        let diff = h.run("diff", &[]);
        prop_assert_eq!(diff.code, 0, "a diff after the apply:\n{}", diff.stdout);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
