//! Hostile strings: every value a playbook gives reaches the host as exactly that value,
//! and nothing in it ever runs as a command.
//!
//! Each payload that could run tries to create a canary file; after every run the canary
//! must not exist anywhere. Two layers:
//! - a property test on this machine (`connection="local"`, the same scripts as over
//!   ssh, run by the same `sh`): generated strings of shell metacharacters, here-document
//!   delimiters and unicode as file names, file content, directory names, symlink
//!   targets, `line` text and `exec` environment values; the files on disk are compared
//!   byte for byte, and a second run must change nothing;
//! - the fixed catalogue through every kind that takes free text, on a container, read
//!   back with `getent`, `readlink`, `cat`, `sha256sum`, plus hostile host names and key
//!   paths in the inventory and a 1 MiB value.

use std::path::Path;

use proptest::prelude::*;

use crate::kinds::OnHost;
use crate::support::Project;

/// A KDL v2 quoted string holding exactly `s`.
pub fn kdl_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{FEFF}' | '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Values are Jinja templates in converge; a payload that should stay literal must not
/// open a tag. (Templating itself is tested elsewhere.)
pub fn untemplated(s: &str) -> String {
    let mut out = s.to_string();
    while out.contains("{{") || out.contains("{%") || out.contains("{#") {
        out = out.replace("{{", "{ {").replace("{%", "{ %").replace("{#", "{ #");
    }
    out
}

/// The fixed payloads: quoting, substitution, separators, globs, braces, options, tildes,
/// here-document delimiters converge and sh use, `echo` escapes, unicode, whitespace.
pub const PAYLOADS: &[&str] = &[
    "'; touch cv-canary; '",
    "\"; touch cv-canary; \"",
    "$(touch cv-canary)",
    "`touch cv-canary`",
    "a;touch cv-canary",
    "a && touch cv-canary",
    "a || touch cv-canary",
    "a | touch cv-canary",
    "x\ntouch cv-canary\n",
    "$((1+1)) ${HOME} $HOME $0 $$",
    "*",
    "?",
    "[a-z]*",
    "{a,b}",
    "-rf",
    "--help",
    "~",
    "~root",
    "ünïcødé ✓ 中文 🦀",
    "back\\slash\\",
    // what `echo` in dash interprets: an octal escape, \c (ends the output), \n
    "\\0101 oct\\c cut\\n",
    "\\\\ two \\\\\\",
    "tab\there",
    " leading and trailing ",
    "#not a comment",
    "!event",
    "%s%n%x",
    "CONVERGE_B64",
    "CV_EOF",
    "EOF",
    "'\"'\"'",
    "a=b",
    "\\$(touch cv-canary)",
    "> cv-canary",
    "< /etc/shadow",
];

/// A file name made of `s`: no `/`, not empty, not `.` or `..`, at most 200 bytes.
fn as_name(s: &str) -> String {
    let mut n: String = s.replace('/', "_");
    while n.len() > 200 {
        n.pop();
    }
    if n.is_empty() || n == "." || n == ".." { format!("x{n}") } else { n }
}

/// The longest prefix of `s` of at most `max` bytes.
fn prefix(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A file of the container, read from outside it (its root directory on this machine).
fn read(h: &OnHost, path: &str) -> Vec<u8> {
    let p = h.container.root_dir().join(path.trim_start_matches('/'));
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn no_canary(dirs: &[&Path]) {
    for d in dirs {
        let found: Vec<_> = walk(d).into_iter().filter(|p| p.file_name().is_some_and(|n| n == "cv-canary")).collect();
        assert!(found.is_empty(), "a payload ran as a command: {found:?}");
    }
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&p) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

/// Converges `values` on this machine through five kinds, checks the result on disk and
/// that a second run changes nothing.
fn converge_locally(values: &[String]) {
    let p = Project::new();
    let root = p.path().join("t");
    let mut pb = String::from("host \"here\" connection=\"local\"\n");
    let d = root.display().to_string();
    pb.push_str(&format!("directory {}\n", kdl_str(&format!("{d}/f"))));
    pb.push_str(&format!("directory {}\n", kdl_str(&format!("{d}/d"))));
    pb.push_str(&format!("directory {}\n", kdl_str(&format!("{d}/l"))));
    pb.push_str(&format!("directory {}\n", kdl_str(&format!("{d}/e"))));
    let mut names = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let name = format!("{i}-{}", as_name(v));
        names.push(name.clone());
        pb.push_str(&format!("file {} content={}\n", kdl_str(&format!("{d}/f/{name}")), kdl_str(v)));
        pb.push_str(&format!("directory {}\n", kdl_str(&format!("{d}/d/{name}"))));
        pb.push_str(&format!(
            "symlink {} target={}\n",
            kdl_str(&format!("{d}/l/{name}")),
            kdl_str(&format!("t{}", v.replace(['\n', '\r'], " ")))
        ));
        let line = v.replace(['\n', '\r'], " ");
        pb.push_str(&format!(
            "line \"l{i}\" path={} line={} create=#true\n",
            kdl_str(&format!("{d}/lines")),
            kdl_str(&format!("{i}={line}"))
        ));
        pb.push_str(&format!(
            "exec {} command=\"printf '%s' \\\"$HV\\\" > \\\"$OUT\\\"\" creates={} {{\n    env {{ HV {}; OUT {}; }}\n}}\n",
            kdl_str(&format!("e{i}")),
            kdl_str(&format!("{d}/e/{i}")),
            kdl_str(v),
            kdl_str(&format!("{d}/e/{i}"))
        ));
    }
    p.file("playbook.kdl", &pb);
    let first = p.converge(&["apply", "playbook.kdl", "--format", "json"]);
    assert_eq!(first.code, 0, "{pb}\n{}\n{}", first.stdout, first.stderr);
    for (i, v) in values.iter().enumerate() {
        let name = &names[i];
        assert_eq!(&std::fs::read_to_string(root.join("f").join(name)).expect("file"), v, "content of {name:?}");
        assert!(root.join("d").join(name).is_dir(), "directory {name:?}");
        let target = std::fs::read_link(root.join("l").join(name)).expect("symlink");
        assert_eq!(target.to_string_lossy(), format!("t{}", v.replace(['\n', '\r'], " ")), "symlink {name:?}");
        assert_eq!(&std::fs::read_to_string(root.join("e").join(i.to_string())).expect("exec output"), v);
    }
    let lines = std::fs::read_to_string(root.join("lines")).expect("lines");
    let want: Vec<String> =
        values.iter().enumerate().map(|(i, v)| format!("{i}={}", v.replace(['\n', '\r'], " "))).collect();
    assert_eq!(lines.lines().collect::<Vec<_>>(), want);
    let again = p.converge(&["apply", "playbook.kdl", "--format", "json"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(again.json()["summary"]["changed"], 0, "{}", again.stdout);
    no_canary(&[p.path()]);
}

#[test]
fn the_fixed_payloads_stay_literal_on_this_machine() {
    let values: Vec<String> = PAYLOADS.iter().map(|s| untemplated(s)).collect();
    converge_locally(&values);
}

fn hostile_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(PAYLOADS).prop_map(str::to_string),
        prop::sample::select(vec![
            "'", "\"", "`", "$", "$(", ")", ";", "&", "|", "<", ">", "\n", "\t", " ", "\\", "*", "?", "[", "]", "{",
            "}", ",", "-", "--", "~", "#", "!", "%", "=", ":", "é", "✓", "\u{7f}", "\u{1}",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z0-9._-]{1,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Generated values, several per run: each case is two whole runs of converge.
    #[test]
    fn generated_values_stay_literal_on_this_machine(
        values in prop::collection::vec(prop::collection::vec(hostile_piece(), 1..8).prop_map(|v| untemplated(&v.concat())), 1..6)
    ) {
        converge_locally(&values);
    }
}

/// The catalogue on a container, through every kind that takes free text, read back from
/// outside converge; a hostile host name and key path in the inventory; 1 MiB of content.
#[test]
fn the_payloads_reach_a_container_literally_through_every_free_text_property() {
    let values: Vec<String> = PAYLOADS.iter().map(|s| untemplated(s)).collect();
    // one line of text: what cron commands, GECOS comments and key comments can hold
    let one_line = |v: &str| v.replace(['\n', '\r', '\t'], " ");
    let mut pb = String::new();
    pb.push_str("directory \"/srv/h\"\ndirectory \"/srv/h/f\"\ndirectory \"/srv/h/d\"\ndirectory \"/srv/h/l\"\ndirectory \"/srv/h/e\"\n");
    pb.push_str("user \"hostile\" home=\"/srv/h/home\"\n");
    let big = prefix(&PAYLOADS.iter().cycle().take(60_000).map(|s| format!("{s}\n")).collect::<String>(), 1 << 20);
    pb.push_str(&format!("file \"/srv/h/big\" content={}\n", kdl_str(&untemplated(&big))));
    for (i, v) in values.iter().enumerate() {
        let name = format!("{i}-{}", as_name(v));
        pb.push_str(&format!("file {} content={} mode=\"0640\"\n", kdl_str(&format!("/srv/h/f/{name}")), kdl_str(v)));
        pb.push_str(&format!("directory {}\n", kdl_str(&format!("/srv/h/d/{name}"))));
        pb.push_str(&format!(
            "symlink {} target={}\n",
            kdl_str(&format!("/srv/h/l/{name}")),
            kdl_str(&format!("t{}", v.replace(['\n', '\r'], " ")))
        ));
        pb.push_str(&format!(
            "line \"l{i}\" path=\"/srv/h/lines\" line={} create=#true\n",
            kdl_str(&format!("{i}={}", one_line(v)))
        ));
        pb.push_str(&format!(
            "exec {} command=\"printf '%s' \\\"$HV\\\" > /srv/h/e/{i}\" creates=\"/srv/h/e/{i}\" cwd={} {{\n    env {{ HV {}; }}\n}}\n",
            kdl_str(&format!("e{i}")),
            kdl_str(&format!("/srv/h/d/{name}")),
            kdl_str(v)
        ));
        pb.push_str(&format!(
            "cron {} schedule=\"@yearly\" command={}\n",
            kdl_str(&format!("hostile-{i}")),
            kdl_str(&format!("true {}", one_line(v)))
        ));
    }
    // a GECOS comment holds no `:`; a key comment is the rest of the key's line
    let comment = prefix(&one_line(&values.join(" ")).replace(':', ";"), 200);
    pb.push_str(&format!("user \"hostile2\" comment={}\n", kdl_str(&comment)));
    let h = OnHost::new("");
    // real public keys, one per payload, each payload as its key's comment
    let keys: Vec<String> = (0..values.len())
        .map(|i| {
            let path = h.project.path().join(format!("k{i}"));
            let public = crate::support::new_key(&path, "");
            public.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        })
        .collect();
    pb.push_str("authorized-key \"hostile\" {\n");
    for (i, v) in values.iter().enumerate() {
        pb.push_str(&format!("    key {}\n", kdl_str(&format!("{} c{i} {}", keys[i], one_line(v)))));
    }
    pb.push_str("}\n");
    h.playbook(&pb);
    let first = h.run("apply", &["--format", "json"]);
    first.expect(0);
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0, "{}", again.stdout);

    for (i, v) in values.iter().enumerate() {
        let name = format!("{i}-{}", as_name(v));
        let path = format!("/srv/h/f/{name}");
        assert_eq!(read(&h, &path), v.as_bytes(), "content of {path:?}");
        let q = converge::script::quote(&path);
        assert_eq!(h.sh(&format!("stat -c %a -- {q}")), "640\n");
        let d = converge::script::quote(&format!("/srv/h/d/{name}"));
        assert_eq!(h.sh(&format!("test -d {d} && echo dir")), "dir\n");
        let l = converge::script::quote(&format!("/srv/h/l/{name}"));
        assert_eq!(h.sh(&format!("readlink -- {l}; echo .")), format!("t{}\n.\n", v.replace(['\n', '\r'], " ")));
        assert_eq!(read(&h, &format!("/srv/h/e/{i}")), v.as_bytes(), "exec env value {i}");
        let cron = String::from_utf8(read(&h, &format!("/etc/cron.d/hostile-{i}"))).expect("utf8");
        // cron's own quoting: `%` is a newline to cron unless escaped, and a command's
        // trailing blanks mean nothing and are not kept
        let as_cron = one_line(v).trim_end().replace('%', "\\%");
        assert!(cron.contains(&format!("true {as_cron}")), "cron {i}: {cron}");
    }
    let lines = String::from_utf8(read(&h, "/srv/h/lines")).expect("utf8");
    let want: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("{i}={}", one_line(v))).collect();
    assert_eq!(lines.lines().collect::<Vec<_>>(), want);
    assert_eq!(read(&h, "/srv/h/big"), untemplated(&big).into_bytes());
    let gecos = h.sh("getent passwd hostile2 | cut -d: -f5");
    assert_eq!(gecos, format!("{comment}\n"));
    let authorized = String::from_utf8(read(&h, "/srv/h/home/.ssh/authorized_keys")).expect("utf8");
    for (i, v) in values.iter().enumerate() {
        // (a key line's trailing blanks are not part of its comment)
        let line = format!("{} c{i} {}", keys[i], one_line(v));
        assert!(authorized.lines().any(|l| l == line.trim_end()), "key {i} in:\n{authorized}");
    }
    // no payload ran, on the host (anywhere on its file system) or here
    assert_eq!(h.sh("find / -xdev -name cv-canary 2>/dev/null | head -5"), "");
    no_canary(&[h.project.path()]);
}

/// Hostile names in the inventory: a host name full of shell, reaching the host only as
/// the literal value of `host.name`; a private key at a path with quotes and spaces; a
/// user name that is a command, which can only fail to log in.
#[test]
fn hostile_host_names_key_paths_and_user_names_in_the_inventory() {
    let c = crate::kinds::boot("t");
    let p = Project::new();
    let name = "web';touch cv-canary;'$(touch cv-canary) `touch cv-canary` ✓";
    let keydir = p.path().join("it's a \"key\" dir $(touch cv-canary)");
    std::fs::create_dir_all(&keydir).expect("mkdir");
    let key = keydir.join("id; touch cv-canary");
    std::fs::copy(c.key(), &key).expect("copy key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // no IdentityFile here: the inventory's identity is the only key
    let known = p.path().join("known_hosts");
    p.file(
        "ssh_config",
        &format!(
            "Host {}\n    IdentitiesOnly yes\n    UserKnownHostsFile \"{}\"\n    StrictHostKeyChecking accept-new\n    BatchMode yes\n    LogLevel ERROR\n",
            c.address(),
            known.display()
        ),
    );
    p.file(
        "inventory.kdl",
        &format!(
            "host {} address=\"{}\" user=\"root\" identity={}\nhost {} address=\"{}\" user={} identity={}\n",
            kdl_str(name),
            c.address(),
            kdl_str(&key.display().to_string()),
            kdl_str("bad-user"),
            c.address(),
            kdl_str("root;touch cv-canary"),
            kdl_str(&key.display().to_string())
        ),
    );
    p.file("playbook.kdl", "file \"/srv/host-name\" content=\"{{ host.name }}\"\n");
    let cfg = p.path().join("ssh_config").display().to_string();
    let run =
        p.converge(&["apply", "playbook.kdl", "--inventory", "inventory.kdl", "--ssh-config", &cfg, "--no-color"]);
    // the hostile user cannot log in: exit 1, that host named; the other converged
    run.expect(1);
    assert!(run.stdout.contains("bad-user") || run.stderr.contains("bad-user"), "{}\n{}", run.stdout, run.stderr);
    let got =
        std::fs::read_to_string(c.root_dir().join("srv/host-name")).expect("the file the hostile-named host wrote");
    assert_eq!(got, name);
    assert_eq!(c.sh_ok("find / -xdev -name cv-canary 2>/dev/null | head -5"), "");
    no_canary(&[p.path()]);
}

/// `echo` in dash (Debian's and Ubuntu's `sh`) interprets backslashes: `\0101` is an
/// octal escape and `\c` ends the output, so `echo "target=$t"` reports a different
/// target than the host has. Every value converge's shell code prints goes through
/// `printf '%s\n'`; this keeps it so: no `echo` of an expansion anywhere in `src/`
/// except numbers converge itself computed (`$?`, `$cv_rc`, `$cv_r`).
#[test]
fn generated_shell_never_echoes_an_expansion() {
    let mut offenders = Vec::new();
    for file in walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
        // the testbed's own scripts run on this machine with values it made
        if file.extension().is_none_or(|e| e != "rs") || file.components().any(|c| c.as_os_str() == "sandbox") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("source");
        for (n, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("echo ") {
                let rest = &line[at + 5..];
                // one shell command: up to a separator or a line break in the script; an
                // escaped `\\$` (a cron command's literal dollar in a unit test) is no expansion
                let end =
                    ["\\n", ";", "|", "&", ">", ")"].iter().filter_map(|s| rest.find(s)).min().unwrap_or(rest.len());
                let words =
                    rest[..end].replace("$?", "").replace("$cv_rc", "").replace("$cv_r\\\"", "").replace("\\\\$", "");
                if words.contains('$') {
                    offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "echo of an expansion (use printf '%s\\n'):\n{}", offenders.join("\n"));
}
