//! `converge completions` and `converge man` know the whole command line: the clap
//! definition is walked here, so a command or option added later and missing from a
//! completion script or the manual page fails this test.

use clap::CommandFactory;
use converge::cli::Cli;

use crate::support::Project;

/// Every command of the tree with the path of names to it (`["help", "apply"]`), the
/// root left out.
fn commands() -> Vec<(Vec<String>, clap::Command)> {
    fn walk(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            let mut p = path.to_vec();
            p.push(sub.get_name().to_string());
            out.push((p.clone(), sub.clone()));
            walk(sub, &p, out);
        }
    }
    let mut root = Cli::command();
    root.build();
    let mut out = Vec::new();
    walk(&root, &[], &mut out);
    out
}

/// The long options of a command (`dry-run`), help and version included.
fn longs(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments().filter(|a| !a.is_hide_set()).filter_map(|a| a.get_long()).map(str::to_string).collect()
}

/// The part of `text` from the first line for which `starts` holds up to the next line
/// for which `ends` holds.
fn between(text: &str, starts: impl Fn(&str) -> bool, ends: impl Fn(&str) -> bool) -> Option<&str> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        match start {
            None if starts(line) => start = Some(offset),
            Some(s) if ends(line) => return Some(&text[s..offset]),
            _ => {}
        }
        offset += line.len();
    }
    start.map(|s| &text[s..])
}

/// What a shell's script says of one command: its own block (bash's `case` arm, zsh's
/// `_arguments` call, fish's `complete` lines), and how an option is written there.
struct Shell {
    name: &'static str,
    section: fn(&str, &[String]) -> Option<String>,
    /// Whether the long option is offered in a block.
    option: fn(&str, &str) -> bool,
}

const SHELLS: &[Shell] = &[
    Shell {
        name: "bash",
        section: |script, path| {
            let arm = format!("        converge__subcmd__{})", path.join("__subcmd__"));
            between(script, |l| l.trim_end() == arm, |l| l.trim_end() == "            ;;").map(str::to_string)
        },
        option: |block, long| block.contains(&format!(" --{long} ")) || block.contains(&format!(" --{long}\"")),
    },
    Shell {
        name: "zsh",
        section: |script, path| {
            // the arms of the top-level commands are the first `(name)` lines followed by
            // their `_arguments` call; nested commands are searched inside their parent's
            let mut rest = script;
            for name in path {
                let arm = format!("({name})");
                let from = rest.find(&format!("{arm}\n_arguments"))?;
                rest = &rest[from..];
            }
            between(rest, |_| true, |l| l.starts_with("&& ret=0")).map(str::to_string)
        },
        // `'--inventory=[...]`, `'*--tags=[...]`, `'--dry-run[...]`
        option: |block, long| block.contains(&format!("--{long}[")) || block.contains(&format!("--{long}=[")),
    },
    Shell {
        name: "fish",
        section: |script, path| {
            let condition = match path {
                [one] => format!("\"__fish_converge_using_subcommand {one}\""),
                [parent, child] => {
                    format!("\"__fish_converge_using_subcommand {parent}; and __fish_seen_subcommand_from {child}\"")
                }
                _ => return None,
            };
            let lines: Vec<&str> = script.lines().filter(|l| l.contains(&format!("-n {condition} "))).collect();
            (!lines.is_empty()).then(|| lines.join("\n"))
        },
        option: |block, long| block.contains(&format!(" -l {long} ")) || block.ends_with(&format!(" -l {long}")),
    },
];

#[test]
fn completion_scripts_know_every_command_and_every_option() {
    let p = Project::new();
    let root = Cli::command();
    for shell in SHELLS {
        let run = p.converge(&["completions", shell.name]);
        run.expect(0);
        let script = &run.stdout;
        assert!(script.len() > 1000, "{}: {script}", shell.name);
        assert!(!(shell.option)(script, "no-such-option"), "{}: the option test finds anything", shell.name);
        for long in longs(&root) {
            assert!((shell.option)(script, &long), "{}: no top-level --{long}", shell.name);
        }
        for (path, cmd) in commands() {
            let name = path.last().expect("a name");
            assert!(script.contains(name.as_str()), "{}: no command {path:?}", shell.name);
            let opts = longs(&cmd);
            if opts.is_empty() {
                continue;
            }
            let section = (shell.section)(script, &path)
                .unwrap_or_else(|| panic!("{}: no block for {path:?} in\n{script}", shell.name));
            for long in opts {
                assert!(
                    (shell.option)(&section, &long),
                    "{}: {path:?} does not complete --{long}:\n{section}",
                    shell.name
                );
            }
        }
    }
}

#[test]
fn a_shell_converge_does_not_write_for_is_refused() {
    let run = Project::new().converge(&["completions", "tcsh"]);
    run.expect(1);
    assert!(run.stderr.contains("possible values: bash, zsh, fish"), "{}", run.stderr);
}

#[test]
fn the_manual_page_has_a_section_per_command_with_every_option() {
    let run = Project::new().converge(&["man"]);
    run.expect(0);
    let page = &run.stdout;
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    assert!(page.contains(".TH CONVERGE 1"), "{page}");
    // roff writes a hyphen as `\-`
    let roff = |long: &str| format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
    let top = between(page, |_| true, |l| l.starts_with(".SH \"CONVERGE ")).expect("the page's head");
    for long in longs(&Cli::command()) {
        assert!(top.contains(&roff(&long)), "no top-level --{long} in\n{top}");
    }
    for (path, cmd) in commands() {
        let name = path.last().expect("a name");
        assert!(page.contains(name.as_str()), "no command {path:?}");
        let opts = longs(&cmd);
        if path.len() > 1 {
            // clap's `help` has a command per command, without options: named above
            assert!(opts.is_empty(), "{path:?} has options the page does not show: {opts:?}");
            continue;
        }
        let heading = format!(".SH \"CONVERGE {}\"", name.to_uppercase());
        let section = between(page, |l| l.trim_end() == heading, |l| l.starts_with(".SH "))
            .unwrap_or_else(|| panic!("no section {heading}"));
        assert!(section.contains(&format!("\\fBconverge {name}\\fR")), "{heading}: no synopsis\n{section}");
        for long in opts {
            assert!(section.contains(&roff(&long)), "{heading}: no --{long}\n{section}");
        }
    }
    // the exit codes once, at the end, as a table (not filled into a paragraph)
    let exit =
        between(page, |l| l.trim_end() == ".SH \"EXIT STATUS\"", |l| l.starts_with(".SH ")).expect("EXIT STATUS");
    assert!(exit.contains(".nf\n") && exit.contains("\\-\\-detailed\\-exitcode"), "{exit}");
    assert_eq!(page.matches("0 = the playbook is valid").count(), 1, "{page}");
}
