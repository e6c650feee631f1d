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

use crate::cases::{Case, Wish, case};
use crate::host::ModelHost;
use crate::run::{Book, converge};

impl Case {
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
