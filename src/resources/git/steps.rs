//! The steps, run as the user: a clone, or a fetch of what is needed and a checkout of
//! exactly the commit the plan showed, after checking that HEAD is still what the plan
//! saw and that the tree has no local changes (unless `force=#true`). What is not a
//! checkout of the user's is refused, never removed.

use super::super::Diff;
use super::refs::is_commit;
use super::{Git, State, Target, Tree};
use crate::script::Sh;

impl Git {
    /// The steps of a planned change (see [`super::super::Kind::steps`]).
    pub(super) fn write_steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        self.prelude(sh);
        match &state.tree {
            Tree::Other(t) => {
                sh.raw("printf '%s\\n' \"refusing to clone into $p: it is a ")
                    .raw(static_type(t))
                    .raw(", not a git checkout\" >&2; exit 1\n");
                return;
            }
            Tree::Foreign { owner, runs_as } => {
                sh.set("o", owner).set("w", runs_as);
                sh.raw("printf '%s\\n' \"refusing to run git as $w in $p, which belongs to $o (chown it, or set user=\\\"$o\\\")\" >&2; exit 1\n");
                return;
            }
            _ => {}
        }
        if state.target == Target::Missing {
            sh.raw("printf '%s\\n' \"$v is not a branch or tag of $r\" >&2; exit 1\n");
            return;
        }
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f);
        match &state.tree {
            Tree::Absent => self.clone_steps(&state.target, sh),
            Tree::Repo(co) => {
                sh.set("seen", co.head.as_deref().unwrap_or(""));
                sh.raw("cur=$(cv_git -C \"$p\" rev-parse -q --verify 'HEAD^{commit}' || true)\n");
                sh.raw("if [ \"$cur\" != \"$seen\" ]; then cv_changed_since_plan \"HEAD of $p is now ${cur:-(no commits)}\"; fi\n");
                if has("repo") {
                    if co.url.is_some() {
                        sh.raw("cv_git -C \"$p\" remote set-url origin \"$r\"\n");
                    } else {
                        sh.raw("cv_git -C \"$p\" remote add origin \"$r\"\n");
                    }
                }
                if has("revision") || has("branch") || has("local changes") {
                    self.move_steps(&state.target, sh);
                }
            }
            Tree::Unknown(_) => {
                sh.raw("cv_git -C \"$p\" remote set-url origin \"$r\" 2>/dev/null || cv_git -C \"$p\" remote add origin \"$r\"\n");
                self.move_steps(&state.target, sh);
            }
            Tree::Other(_) | Tree::Foreign { .. } => {}
        }
    }

    fn clone_steps(&self, target: &Target, sh: &mut Sh) {
        sh.raw("if [ -e \"$p/.git\" ]; then cv_changed_since_plan \"$p is already a git checkout\"; fi\n");
        let by_name = match target {
            Target::Branch { .. } | Target::Tag { .. } => true,
            Target::Later(_) => !is_commit(&self.version),
            Target::Detached(_) | Target::Missing => false,
        } && self.version != "HEAD";
        if by_name {
            sh.raw("cv_git clone -q --branch \"$v\" -- \"$r\" \"$p\"\n");
        } else {
            sh.raw("cv_git clone -q -- \"$r\" \"$p\"\n");
        }
        if target.sha().is_some() || is_commit(&self.version) {
            self.checkout(target, sh);
        }
    }

    /// Fetch what is needed, refuse local changes unless forced, check out the target.
    fn move_steps(&self, target: &Target, sh: &mut Sh) {
        if !self.force {
            sh.raw("s=$(cv_git -C \"$p\" status --porcelain --untracked-files=no)\n");
            sh.raw("if [ -n \"$s\" ]; then printf '%s\\n' \"local changes in $p; force=#true discards them:\" >&2; printf '%s\\n' \"$s\" >&2; exit 1; fi\n");
        }
        match target {
            Target::Branch { .. } | Target::Later(_) => {
                sh.raw("cv_git -C \"$p\" fetch -q --force --tags origin\n");
            }
            _ => {
                if let Some(sha) = target.sha() {
                    sh.raw("if ! cv_git -C \"$p\" cat-file -e ")
                        .hex(sha)
                        .raw("'^{commit}' 2>/dev/null; then cv_git -C \"$p\" fetch -q --force --tags origin; fi\n");
                }
            }
        }
        if let Target::Later(_) = target {
            if is_commit(&self.version) {
                self.checkout(&Target::Detached(self.version.clone()), sh);
                return;
            }
            // resolved now, from what was just fetched
            sh.raw("if want=$(cv_git -C \"$p\" rev-parse -q --verify \"refs/remotes/origin/$v^{commit}\"); then\n");
            self.checkout_branch("\"$v\"", sh);
            sh.raw("elif want=$(cv_git -C \"$p\" rev-parse -q --verify \"refs/tags/$v^{commit}\"); then\n");
            self.checkout_detached(sh);
            sh.raw("else printf '%s\\n' \"$v is not a branch or tag of $r\" >&2; exit 1; fi\n");
            return;
        }
        self.checkout(target, sh);
    }

    fn checkout(&self, target: &Target, sh: &mut Sh) {
        let Some(sha) = target.sha() else { return };
        sh.raw("want=").hex(sha).nl();
        match target {
            Target::Branch { name, .. } => {
                sh.set("b", name);
                self.checkout_branch("\"$b\"", sh);
            }
            _ => self.checkout_detached(sh),
        }
        sh.raw("[ \"$(cv_git -C \"$p\" rev-parse HEAD)\" = \"$want\" ] || { printf '%s\\n' \"$p did not move to $want\" >&2; exit 1; }\n");
    }

    /// Local branch `branch` (shell text) at `$want`, tracking `origin/BRANCH`.
    fn checkout_branch(&self, branch: &'static str, sh: &mut Sh) {
        sh.raw("cv_git -C \"$p\" checkout -q ");
        if self.force {
            sh.raw("-f ");
        }
        sh.raw("-B ").raw(branch).raw(" \"$want\" --\n");
        sh.raw("cv_git -C \"$p\" branch -q --set-upstream-to=\"origin/\"").raw(branch).sp().raw(branch).nl();
        if self.force {
            sh.raw("cv_git -C \"$p\" reset -q --hard\n");
        }
    }

    fn checkout_detached(&self, sh: &mut Sh) {
        sh.raw("cv_git -C \"$p\" checkout -q ");
        if self.force {
            sh.raw("-f ");
        }
        sh.raw("--detach \"$want\" --\n");
        if self.force {
            sh.raw("cv_git -C \"$p\" reset -q --hard\n");
        }
    }
}

fn static_type(t: &str) -> &'static str {
    match t {
        "symlink" => "symlink",
        "file" => "file",
        _ => "non-empty directory",
    }
}
