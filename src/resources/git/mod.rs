//! `git`: a checkout of a branch, a tag or a commit, owned by and worked on as a given user.
//!
//! ```kdl
//! user "app" system=#true home="/srv/app"
//! directory "/srv/app" owner="app"
//! git "/srv/app/src" repo="https://github.com/org/app.git" version="main" user="app" notify="service:app"
//! git "/srv/tools" repo="https://example.org/tools.git" version="v1.4.2"
//! git "/srv/lib" repo="https://example.org/lib.git" version="3f786850e387550fdab836ed7e6dc881de23001b" force=#true
//! service "app" state="running"
//! ```
//!
//! `version` is a branch, a tag or a full 40-digit commit hash (default `HEAD`: the
//! remote's default branch). A token in an https `repo` URL is a secret: redacted from
//! every plan and report. A branch is checked out as a local branch tracking
//! `origin/BRANCH` (so `git pull` by hand still works); a tag or a commit is checked out
//! detached.
//!
//! Probe (read-only, as the user): whether the path is a git work tree, its HEAD, its
//! branch, its `origin` URL and its modified tracked files (untracked files are not local
//! changes: a checkout grows `.pyc` files and logs), then what `version` is on the remote,
//! with one `git ls-remote` (a commit hash needs no network). The plan shows the move
//! with short hashes and the ref name: `revision: 1a2b3c4 (main) → 5d6e7f8 (main)`.
//!
//! Steps run git as the user (`runuser -u USER --`), never as root in the user's tree:
//! a clone (`--branch` for a branch or tag), or a fetch and a checkout of exactly the
//! commit the plan showed. Before moving, the step checks that HEAD is still what the plan
//! saw ("changed since plan") and that the tree has no local changes: modified tracked
//! files are refused ("local changes in DEST; force=#true discards them") unless
//! `force=#true`, which discards them. Local changes are drift too: they show in the plan
//! even when HEAD is right. A tree owned by another user than `user`, a file, or a
//! non-empty directory that is not a checkout is refused, never removed.
//!
//! The resource changes exactly when the checkout moves, so `notify="service:app"`
//! restarts the app only after a new revision. It depends on its user, its managed parent
//! directories (and a managed directory at its own path, to clone into), and
//! `package:git`. When the user or git do not exist yet at probe time (created in the same
//! run), the target is resolved at apply time and the plan says so.
//!
//! The parts: what `version` names and how `git ls-remote` resolves it (`refs.rs`); the
//! steps (`steps.rs`); this file, the kind: reading the node, the probe and the plan.

mod refs;
mod steps;

use super::content::short;
use super::file::read_path;
use super::record::Record;
use super::runas::{self, read_user};
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;
pub use refs::Target;
use refs::{is_commit, resolve, url_secret, valid_ref};

#[derive(Debug)]
pub struct Git {
    path: String,
    repo: String,
    version: String,
    user: Option<String>,
    force: bool,
}

/// What is at the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tree {
    /// Nothing, or an empty directory: cloned into.
    Absent,
    /// Something that is not a checkout and is never replaced ("file", "symlink",
    /// "non-empty directory").
    Other(String),
    /// A checkout owned by someone else than the user git runs as.
    Foreign {
        owner: String,
        runs_as: String,
    },
    /// A checkout that could not be looked into yet (why: the user or git is missing).
    Unknown(String),
    Repo(Checkout),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// `None`: no commits yet.
    pub head: Option<String>,
    /// `None`: detached.
    pub branch: Option<String>,
    pub url: Option<String>,
    /// Modified tracked files (`git status --porcelain` lines).
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub tree: Tree,
    pub target: Target,
}

impl Git {
    /// How the wanted revision is shown in the plan.
    fn wanted(&self, target: &Target) -> String {
        match target {
            Target::Branch { name, sha } | Target::Tag { name, sha } => format!("{} ({name})", short(sha, 7)),
            Target::Detached(sha) if is_commit(&self.version) => short(sha, 7).to_string(),
            Target::Detached(sha) => format!("{} ({})", short(sha, 7), self.version),
            Target::Missing if self.version.len() >= 4 && self.version.bytes().all(|b| b.is_ascii_hexdigit()) => {
                format!(
                    "{} (not a branch or tag of {}; write a commit as its full 40-digit hash)",
                    self.version, self.repo
                )
            }
            Target::Missing => format!("{} (not a branch or tag of {})", self.version, self.repo),
            Target::Later(why) => format!("{} (resolved at apply: {why})", self.version),
        }
    }

    fn read_repo(r: &mut NodeReader) -> Option<String> {
        let Some(repo) = r.nonempty("repo") else {
            if !r.has("repo") {
                let at = r.at();
                r.error(
                    Diag::new(Code::Missing, "a git checkout needs a `repo`", &at, "no repo")
                        .help("write `repo=\"https://example.org/app.git\"`"),
                );
            }
            return None;
        };
        if repo.value.starts_with('-') || repo.value.chars().any(char::is_control) {
            r.error(Diag::new(
                Code::Git,
                format!("`{}` is not a repository URL", repo.value),
                &repo.at,
                "git would read this as an option",
            ));
            return None;
        }
        Some(repo.value)
    }

    fn read_version(r: &mut NodeReader) -> Option<String> {
        let Some(v): Option<Spanned<String>> = r.nonempty("version") else {
            return (!r.has("version")).then(|| "HEAD".to_string());
        };
        if !is_commit(&v.value) && !valid_ref(&v.value) {
            r.error(
                Diag::new(
                    Code::Git,
                    format!("`{}` is not a branch, tag or commit", v.value),
                    &v.at,
                    "invalid ref name",
                )
                .help("a ref name has no spaces, `..`, `~^:?*[\\`, and does not start with `-`"),
            );
            return None;
        }
        Some(v.value)
    }

    /// Sets the variables and the `cv_git` function every snippet uses.
    fn prelude(&self, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.set("r", &self.repo);
        sh.set("v", &self.version);
        sh.set("u", self.user.as_deref().unwrap_or(""));
        runas::define(sh);
        sh.raw("cv_git() { cv_as \"$u\" env GIT_TERMINAL_PROMPT=0 git \"$@\"; }\n");
    }
}

impl Kind for Git {
    const KIND: &'static str = "git";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Git> {
        let path = read_path(r);
        let repo = Git::read_repo(r);
        let version = Git::read_version(r);
        let become_user = r.become_user();
        let user = read_user(r, "user").or(become_user);
        let force = r.bool("force").unwrap_or(false);
        if r.failed() {
            return None;
        }
        Some(Git { path: path?, repo: repo?, version: version?, user, force })
    }

    fn name(&self) -> &str {
        &self.path
    }

    /// A password or token in an https URL (`https://user:TOKEN@host/...`) is never shown.
    fn secrets(&self) -> Vec<String> {
        url_secret(&self.repo).into_iter().collect()
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.path);
        d.push(Implicit::new("directory", self.path.clone(), "cloned into"));
        if let Some(u) = &self.user {
            d.push(Implicit::new("user", u.clone(), "runs git"));
        }
        d.push(Implicit::new("package", "git", "git"));
        d
    }

    fn probe(&self, sh: &mut Sh) {
        self.prelude(sh);
        sh.raw("ready=1\ncommand -v git >/dev/null 2>&1 || { echo missing=git; ready=0; }\n");
        sh.raw("if [ -n \"$u\" ] && ! id -u -- \"$u\" >/dev/null 2>&1; then echo missing=user; ready=0; fi\n");
        sh.raw("printf '%s\\n' \"me=$(id -un)\"\n");
        sh.raw(
            r#"if [ -L "$p" ]; then echo type=symlink
elif [ -d "$p" ] && [ -e "$p/.git" ]; then
echo type=repo
o=$(stat -c %U -- "$p"); printf '%s\n' "owner=$o"
if [ $ready = 1 ] && [ "$o" = "${u:-$(id -un)}" ]; then
printf '%s\n' "head=$(cv_git -C "$p" rev-parse -q --verify 'HEAD^{commit}')"
printf '%s\n' "branch=$(cv_git -C "$p" symbolic-ref -q --short HEAD)"
printf '%s\n' "url=$(cv_git -C "$p" config --get remote.origin.url)"
if s=$(cv_git -C "$p" status --porcelain --untracked-files=no); then echo status=ok; printf '%s\n' "$s" | sed -n '/./s/^/changed=/p'; fi
fi
elif [ -d "$p" ]; then if [ -z "$(ls -A -- "$p")" ]; then echo type=empty; else echo type=directory; fi
elif [ -e "$p" ]; then echo type=file
else echo type=absent
fi
"#,
        );
        if !is_commit(&self.version) {
            sh.raw("if [ $ready = 1 ]; then if o=$(cv_git ls-remote --symref -- \"$r\" \"$v\" \"$v^{}\"); then echo lsremote=ok; printf '%s\\n' \"$o\" | tr '\\t' ' ' | sed -n '/./s/^/ls=/p'; else echo lsremote=failed; fi; fi\n");
        }
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let missing = rec.all("missing");
        let why = if missing.contains(&"git") {
            Some("git is not installed yet".to_string())
        } else if missing.contains(&"user") {
            Some(format!("user {} does not exist yet", self.user.as_deref().unwrap_or("?")))
        } else {
            None
        };
        let tree = match rec.req("type")? {
            "absent" | "empty" => Tree::Absent,
            "symlink" => Tree::Other("symlink".into()),
            "file" => Tree::Other("file".into()),
            "directory" => Tree::Other("non-empty directory".into()),
            "repo" => {
                let owner = rec.req("owner")?.to_string();
                let runs_as = self.user.clone().unwrap_or_else(|| rec.get("me").unwrap_or("").to_string());
                if let Some(why) = &why {
                    Tree::Unknown(why.clone())
                } else if owner != runs_as {
                    Tree::Foreign { owner, runs_as }
                } else {
                    if rec.get("status") != Some("ok") {
                        return Err(ProbeError(format!("git status failed in {}", self.path)));
                    }
                    let head = rec.req("head")?;
                    if !head.is_empty() && !is_commit(head) {
                        return Err(ProbeError(format!("HEAD is not a commit hash: {head:?}")));
                    }
                    let opt = |k: &str| rec.get(k).filter(|s| !s.is_empty()).map(str::to_string);
                    Tree::Repo(Checkout {
                        head: opt("head"),
                        branch: opt("branch"),
                        url: opt("url"),
                        changes: rec.all("changed").into_iter().map(str::to_string).collect(),
                    })
                }
            }
            other => return Err(ProbeError(format!("unexpected type {other:?}"))),
        };
        let target = if is_commit(&self.version) {
            Target::Detached(self.version.to_lowercase())
        } else if let Some(why) = why {
            Target::Later(why)
        } else {
            match rec.req("lsremote")? {
                "ok" => resolve(&self.version, &rec.all("ls"))?,
                _ => return Err(ProbeError(format!("git ls-remote {} failed", self.repo))),
            }
        };
        Ok(State { tree, target })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let wanted = self.wanted(&state.target);
        let co = match &state.tree {
            Tree::Absent => {
                return Diff::new(
                    Action::Create,
                    vec![
                        Change::new("repo", None, Some(self.repo.clone())),
                        Change::new("revision", None, Some(wanted)),
                    ],
                );
            }
            Tree::Other(t) => return Diff::new(Action::Change, vec![Change::set("type", t.clone(), "git checkout")]),
            Tree::Foreign { owner, runs_as } => {
                return Diff::new(Action::Change, vec![Change::set("owner", owner.clone(), runs_as.clone())]);
            }
            Tree::Unknown(why) => {
                return Diff::new(Action::Change, vec![Change::set("revision", format!("unknown ({why})"), wanted)]);
            }
            Tree::Repo(co) => co,
        };
        let mut changes = Vec::new();
        if co.url.as_deref() != Some(self.repo.as_str()) {
            changes.push(Change::new("repo", co.url.clone(), Some(self.repo.clone())));
        }
        let current = match (&co.head, &co.branch) {
            (None, _) => "(no commits)".to_string(),
            (Some(h), Some(b)) => format!("{} ({b})", short(h, 7)),
            (Some(h), None) => format!("{} (detached)", short(h, 7)),
        };
        match state.target.sha() {
            Some(sha) if co.head.as_deref() != Some(sha) => changes.push(Change::set("revision", current, wanted)),
            Some(_) => {
                if let Some(b) = state.target.branch().filter(|b| co.branch.as_deref() != Some(*b)) {
                    let was = co.branch.clone().unwrap_or_else(|| "(detached)".into());
                    changes.push(Change::set("branch", was, b));
                }
            }
            None => changes.push(Change::set("revision", current, wanted)),
        }
        if !co.changes.is_empty() {
            let after = if self.force { "discarded" } else { "refused (force=#true discards them)" };
            changes.push(Change::set("local changes", describe_changes(&co.changes), after));
        }
        Diff::new(Action::Change, changes)
    }
    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        self.write_steps(state, diff, sh);
    }
}

/// `3 files: app.py, README.md, setup.cfg`, from `git status --porcelain` lines.
fn describe_changes(lines: &[String]) -> String {
    let names: Vec<&str> = lines.iter().map(|l| l.get(3..).unwrap_or(l).trim()).collect();
    let shown = names.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    let more = if names.len() > 5 { ", …" } else { "" };
    let n = names.len();
    format!("{n} file{}: {shown}{more}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const T: &str = "3333333333333333333333333333333333333333";

    fn git(version: &str, force: bool) -> Git {
        Git {
            path: "/srv/app/src".into(),
            repo: "file:///srv/up.git".into(),
            version: version.into(),
            user: Some("nobody".into()),
            force,
        }
    }

    fn repo_out(head: &str, branch: &str, extra: &str) -> String {
        format!(
            "me=root\ntype=repo\nowner=nobody\nhead={head}\nbranch={branch}\nurl=file:///srv/up.git\nstatus=ok\n{extra}"
        )
    }

    fn plan(g: &Git, out: &str) -> (State, Diff, String) {
        let state = g.parse(out).expect("parse");
        let diff = g.diff(&state, &PlanCx::default());
        let mut sh = Sh::new();
        if !diff.is_ok() {
            g.steps(&state, &diff, &mut sh);
        }
        (state, diff, sh.into_text())
    }

    #[test]
    fn an_absent_checkout_is_cloned_by_branch_as_the_user() {
        let g = git("main", false);
        let out = format!("me=root\ntype=absent\nlsremote=ok\nls={B} refs/heads/main\n");
        let (_, diff, text) = plan(&g, &out);
        assert_eq!(diff.action, Action::Create);
        assert_eq!(diff.changes[1], Change::new("revision", None, Some("2222222 (main)".into())));
        assert!(text.contains("cv_git clone -q --branch \"$v\" -- \"$r\" \"$p\"\n"), "{text}");
        assert!(text.contains("runuser -u \"$cv_u\" --"), "{text}");
        assert!(text.contains(&format!("want={B}\n")), "{text}");
        assert!(text.contains("checkout -q -B \"$b\" \"$want\" --"), "{text}");
    }

    #[test]
    fn a_new_upstream_commit_moves_the_branch() {
        let g = git("main", false);
        let out = repo_out(A, "main", &format!("lsremote=ok\nls={B} refs/heads/main\n"));
        let (_, diff, text) = plan(&g, &out);
        assert_eq!(diff.changes, vec![Change::set("revision", "1111111 (main)", "2222222 (main)")]);
        assert!(text.contains(&format!("seen={A}\n")), "{text}");
        assert!(text.contains("cv_changed_since_plan"), "{text}");
        assert!(text.contains("local changes in $p; force=#true discards them"), "{text}");
        assert!(text.contains("fetch -q --force --tags origin"), "{text}");
        assert!(!text.contains("-f "), "no force: {text}");
        // in sync
        let out = repo_out(B, "main", &format!("lsremote=ok\nls={B} refs/heads/main\n"));
        assert!(plan(&g, &out).1.is_ok());
    }

    #[test]
    fn tags_are_peeled_and_checked_out_detached() {
        let g = git("v1", false);
        let out = repo_out(A, "main", &format!("lsremote=ok\nls={T} refs/tags/v1\nls={B} refs/tags/v1^{{}}\n"));
        let (state, diff, text) = plan(&g, &out);
        assert_eq!(state.target, Target::Tag { name: "v1".into(), sha: B.into() });
        assert_eq!(diff.changes, vec![Change::set("revision", "1111111 (main)", "2222222 (v1)")]);
        assert!(text.contains("checkout -q --detach \"$want\" --"), "{text}");
        // a detached HEAD at the tag's commit is in sync
        assert!(plan(&g, &repo_out(B, "", &format!("lsremote=ok\nls={B} refs/tags/v1^{{}}\n"))).1.is_ok());
    }

    #[test]
    fn a_commit_needs_no_network_and_fetches_only_when_missing() {
        let g = git(B, false);
        let mut sh = Sh::new();
        g.probe(&mut sh);
        assert!(!sh.text().contains("ls-remote"), "{}", sh.text());
        let (_, diff, text) = plan(&g, &repo_out(A, "main", ""));
        assert_eq!(diff.changes, vec![Change::set("revision", "1111111 (main)", "2222222")]);
        assert!(text.contains(&format!("cat-file -e {B}'^{{commit}}'")), "{text}");
    }

    #[test]
    fn head_follows_the_default_branch() {
        let g = git("HEAD", false);
        let out = repo_out(A, "", &format!("lsremote=ok\nls=ref: refs/heads/trunk HEAD\nls={A} HEAD\n"));
        let (_, diff, _) = plan(&g, &out);
        assert_eq!(diff.changes, vec![Change::set("branch", "(detached)", "trunk")]);
    }

    #[test]
    fn local_changes_are_drift_refused_without_force() {
        let g = git("main", false);
        let out = repo_out(B, "main", &format!("changed= M app.py\nlsremote=ok\nls={B} refs/heads/main\n"));
        let (_, diff, text) = plan(&g, &out);
        assert_eq!(
            diff.changes,
            vec![Change::set("local changes", "1 file: app.py", "refused (force=#true discards them)")]
        );
        assert!(text.contains("local changes in $p"), "{text}");
        let g = git("main", true);
        let (_, diff, text) = plan(&g, &out);
        assert_eq!(diff.changes[0].after(), Some("discarded"));
        assert!(!text.contains("local changes in $p"), "{text}");
        assert!(text.contains("checkout -q -f -B") && text.contains("reset -q --hard"), "{text}");
    }

    #[test]
    fn refusals_other_owner_and_missing_ref() {
        let g = git("main", false);
        let out = format!("me=root\ntype=repo\nowner=root\nlsremote=ok\nls={B} refs/heads/main\n");
        let (_, diff, text) = plan(&g, &out);
        assert_eq!(diff.changes, vec![Change::set("owner", "root", "nobody")]);
        assert!(text.contains("refusing to run git as $w in $p"), "{text}");
        let (_, diff, text) = plan(&g, "me=root\ntype=absent\nlsremote=ok\n");
        assert_eq!(diff.changes[1].after(), Some("main (not a branch or tag of file:///srv/up.git)"));
        assert!(text.contains("is not a branch or tag of $r"), "{text}");
        let short = git("abc1234", false);
        let (_, diff, _) = plan(&short, "me=root\ntype=absent\nlsremote=ok\n");
        assert!(diff.changes[1].after().is_some_and(|a| a.ends_with("write a commit as its full 40-digit hash)")));
        let (_, _, text) = plan(&g, "me=root\ntype=directory\nlsremote=ok\n");
        assert!(text.contains("refusing to clone into $p: it is a non-empty directory"), "{text}");
    }

    #[test]
    fn unresolvable_before_apply_and_probe_errors() {
        let g = git("main", false);
        let (_, diff, text) = plan(&g, "missing=user\nme=root\ntype=absent\n");
        assert_eq!(diff.changes[1].after(), Some("main (resolved at apply: user nobody does not exist yet)"));
        assert!(text.contains("clone -q --branch"), "{text}");
        assert!(!text.contains("want="), "{text}");
        // failures are errors, never "nothing to do"
        assert!(g.parse("me=root\ntype=absent\nlsremote=failed\n").is_err());
        assert!(g.parse("me=root\ntype=repo\nowner=nobody\nhead=\n").is_err(), "git status failed");
        assert!(g.parse("me=root\ntype=absent\nlsremote=ok\nls=garbage\n").is_err());
    }
}
