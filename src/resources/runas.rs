//! Running a tool as another user, for the kinds that work inside a user's tree (`git`,
//! `venv`, `pip`): files they create belong to that user, and git refuses to work in a
//! tree owned by someone else ("dubious ownership"), so root never touches such a tree.
//!
//! [`define`] writes a shell function `cv_as USER CMD...` that runs the command directly
//! when USER is empty or is who the exchange already runs as (a playbook that connects as
//! the app user without `become`), through `runuser -u USER --` when the exchange runs as
//! root, and fails saying so otherwise.
//! The working directory is `/` first: the exchange's own (root's home) is not readable by
//! other users, and tools that look around their working directory (git) would fail there.

use crate::script::Sh;
use crate::syntax::reader::NodeReader;

/// Defines `cv_as` and moves to `/`.
pub fn define(sh: &mut Sh) {
    sh.raw("cd /\n");
    sh.raw("cv_as() { cv_u=$1; shift; if [ -z \"$cv_u\" ] || [ \"$cv_u\" = \"$(id -un)\" ]; then \"$@\"; elif [ \"$(id -u)\" -ne 0 ]; then printf 'converge: acting as %s needs root: give the host become=#true\\n' \"$cv_u\" >&2; return 1; else runuser -u \"$cv_u\" -- \"$@\"; fi; }\n");
}

/// Reads a user-name property (`user=`, `owner=`): a name `runuser -u` and `stat -c %U`
/// agree on.
pub fn read_user(r: &mut NodeReader, key: &'static str) -> Option<String> {
    super::group::read_account(r, key, "user name")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn runs_directly_as_the_current_user() {
        let mut sh = Sh::new();
        define(&mut sh);
        sh.raw("cv_as \"$(id -un)\" sh -c 'printf \"%s\\n\" \"$1 $(pwd)\"' x 'a b'; cv_as '' echo ok\n");
        let out = Command::new("sh").arg("-c").arg(sh.text()).output().expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b /\nok\n");
    }
}
