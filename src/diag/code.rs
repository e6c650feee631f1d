//! Every diagnostic code, in one place.
//!
//! A code is shown beside its diagnostic (`converge::missing`) and is stable: a script, a
//! test or a person searching for it finds every place it comes from. Each variant says
//! when it is used; [`Code::as_str`] is its text, which never changes once released (a
//! renamed variant keeps its text). Codes name a kind of problem (`missing`, `range`) or,
//! for what only one kind checks, the kind (`nginx`, `cron`).

use std::fmt;

/// Declares [`Code`] from one list: each variant with its documentation and its text, so
/// that [`Code::as_str`] and [`Code::ALL`] cannot drift from the variants.
macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident => $text:literal, )*) => {
        /// The code of a [`super::Diag`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in the order declared.
            pub const ALL: &[Code] = &[$(Code::$variant),*];

            /// The code as users see it beside the diagnostic: `converge::missing`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    // --- reading KDL and its values (syntax/)
    /// The file is not valid KDL (an unclosed block or string, a bad escape), or an entry
    /// stands where only a node may.
    Syntax => "converge::syntax",
    /// A value of the wrong type: a number for a string, a string for a boolean.
    Type => "converge::type",
    /// A string holding a NUL character, which no path, command or file line can carry.
    Nul => "converge::nul",
    /// A file mode that is not octal, is written as a bare decimal integer, or is above
    /// 0o7777.
    Mode => "converge::mode",

    // --- a node's properties and arguments, as the node reader checks them
    /// Something a node needs is not given: its name, a required property (`command`,
    /// `repo`, `image`...), a path.
    Missing => "converge::missing",
    /// A property or child node a kind (or a host, a secret) does not take; "did you
    /// mean" when one is close.
    UnknownProperty => "converge::unknown-property",
    /// A property given twice on one node, or a name given twice in a map block.
    DuplicateProperty => "converge::duplicate-property",
    /// More positional values than the node takes.
    ExtraArgument => "converge::extra-argument",
    /// A value that must not be empty is: a string property, or a rule with no words.
    Empty => "converge::empty",
    /// An integer outside what its property allows (a port, a uid, `numprocs` 0).
    Range => "converge::range",
    /// A value that is not one of the property's choices (`state="presnt"`).
    Choice => "converge::choice",
    /// Properties that cannot be given together, or one that contradicts the state
    /// (`content` and `template`, a position for an absent rule).
    Conflict => "converge::conflict",
    /// A list property written with properties instead of values.
    List => "converge::list",
    /// A map block (`env { NAME "value" }`) line that is not one name and one value.
    Map => "converge::map",
    /// A path that is not absolute where the host needs one (see
    /// [`crate::syntax::reader::PathRule`]).
    Path => "converge::path",
    /// An environment variable name a shell would not take (`exec`, `cron`).
    Env => "converge::env",
    /// A user or group name the host's tools would refuse or misread.
    Name => "converge::name",

    // --- the playbook, its inventory, modules, variables and secrets (playbook/)
    /// A file that cannot be read (the playbook, the inventory).
    Io => "converge::io",
    /// A node that does not belong in an inventory, a group or a host; a bad host
    /// property value (a port, a connection).
    Inventory => "converge::inventory",
    /// A host, a group or a resource (`kind:name`) declared twice.
    Duplicate => "converge::duplicate",
    /// A node whose name is no resource kind; "did you mean" when one is close.
    UnknownKind => "converge::unknown-kind",
    /// An `on` block without host or group names, or with properties.
    On => "converge::on",
    /// An `on` block naming a host or group the inventory does not have.
    UnknownTarget => "converge::unknown-target",
    /// A `require`, `notify` or `subscribe` value that is not `kind:name` of a known kind.
    Reference => "converge::reference",
    /// A `use` that names no module, a module that uses itself, an unreadable module, or
    /// parameters the module does not have or needs.
    Use => "converge::use",
    /// A node that does not belong in a module file.
    Module => "converge::module",
    /// A `vars` block or variable that holds no value, a property, or both values and a
    /// block.
    Vars => "converge::vars",
    /// A secret declared without a source, one that cannot be read, or one that shares
    /// its name with a variable.
    Secret => "converge::secret",
    /// `become-user` on a kind that acts as root, or a value that is not a user name.
    Become => "converge::become",
    /// A Jinja error in a string or a template file (an undefined variable, bad syntax, an
    /// unknown filter), labelled in the template.
    Template => "converge::template",
    /// A template file that cannot be read.
    TemplateMissing => "converge::template-missing",
    /// A `source` file (shipped byte for byte) that cannot be read.
    SourceMissing => "converge::source-missing",
    /// A `when` condition that is not a Jinja expression, fails to evaluate, or is
    /// written in `{{ }}`.
    Condition => "converge::when",
    /// A `for` loop without a variable or an `in=`, or whose `in=` is not a list or a map.
    Loop => "converge::for",
    /// A `tags` value that is not a tag name, or `--tags`/`--skip-tags` naming no tag of
    /// the playbook.
    Tags => "converge::tags",
    /// A host fact that does not exist (`host.facts.os.familly`), or facts that could not
    /// be gathered or read.
    Fact => "converge::fact",

    // --- the graph of each host (graph.rs) and the hosts to run on (prepare.rs)
    /// A `require`, `notify` or `subscribe` naming a resource this host does not manage.
    UnknownReference => "converge::unknown-reference",
    /// `notify` pointing at a resource with nothing to restart or reload.
    Notify => "converge::notify",
    /// A dependency cycle, shown hop by hop.
    Cycle => "converge::cycle",
    /// `--limit` that cannot be read, names something that is not there, or selects no host;
    /// `graph --host` naming no host of the playbook.
    Limit => "converge::limit",
    /// A playbook run with no hosts (none declared and no `--inventory`).
    NoHosts => "converge::no-hosts",

    // --- what a single kind checks
    /// `apt-repository`: a name, URI, suite, component, option or key apt would misread
    /// or refuse.
    Apt => "converge::apt",
    /// `unarchive`: an archive format converge cannot name from the file name, a
    /// `strip-components` on an unknown format.
    Archive => "converge::archive",
    /// `authorized-key`: a key that is not a valid SSH public key, or given twice.
    Key => "converge::key",
    /// `container`: a bad container name, image, port binding, mount, environment or
    /// restart policy, or a secret on the engine's command line.
    Container => "converge::container",
    /// `copy-tree`: a source directory that cannot be read or holds what cannot be
    /// copied, an exclude pattern that is not a glob, `/` as the destination.
    CopyTree => "converge::copy-tree",
    /// `cron`: a job name cron ignores, a command on several lines or with `\%`, `env`
    /// in a crontab, a value cron cannot hold.
    Cron => "converge::cron",
    /// `cron`: a schedule field or macro cron does not accept, labelled at the field.
    Schedule => "converge::schedule",
    /// `download`: a URL that is not http or https (or holds a control character), a
    /// checksum that is not `sha256:` or `sha512:` and its hex digits.
    Download => "converge::download",
    /// `exec`: a command with no guard that would run on every apply.
    Exec => "converge::exec",
    /// `git`: a repository URL git would read as an option, a ref name git refuses.
    Git => "converge::git",
    /// `hostname`: a name that is not an RFC 1123 host name the kernel takes.
    Hostname => "converge::hostname",
    /// `iptables`: a rule name, chain or rule words iptables would misread or that would
    /// change the command.
    Iptables => "converge::iptables",
    /// `line`: a line with a line break.
    Line => "converge::line",
    /// `line`: a `match`, `after` or `before` that is not a valid regular expression.
    Regex => "converge::regex",
    /// `line`: a `validate` command that cannot be split into words.
    Validate => "converge::validate",
    /// `locale`: a name that is not a locale name, the default locale made absent.
    Locale => "converge::locale",
    /// `nginx-site`: a server or location nginx would refuse or misread.
    Nginx => "converge::nginx",
    /// `package` and `service`: a package name or version the package manager would
    /// misread, a version pin on several packages.
    Package => "converge::package",
    /// `pip`: a requirement that is not pinned, an index or find-links that is not a URL
    /// or directory.
    Pip => "converge::pip",
    /// `postgres-role`, `postgres-database`: a name, encoding, locale or password
    /// PostgreSQL would refuse.
    Postgres => "converge::postgres",
    /// `supervisor-program`: a name, command or value supervisor's INI format would
    /// misread, or options it refuses together.
    Supervisor => "converge::supervisor",
    /// `sysctl`: a key that is no kernel parameter name, a value on several lines, a
    /// persisted file systemd-sysctl would not read.
    Sysctl => "converge::sysctl",
    /// `mount`: a source, type or options that /etc/fstab cannot hold.
    Mount => "converge::mount",
    /// `swap-file`: a size that is not a whole number of MiB or GiB.
    Swap => "converge::swap",
    /// `symlink`: a target holding a line break.
    Target => "converge::target",
    /// `timezone`: a name that is not a tz database zone name.
    Timezone => "converge::timezone",
    /// `ufw`, `ufw-firewall`: an address, port, interface, application or rule name ufw
    /// would refuse; a name for the one firewall.
    Ufw => "converge::ufw",
    /// `unit`: a name that is not a systemd unit name.
    Unit => "converge::unit",
    /// `user`: a field of /etc/passwd (home, shell, comment) it cannot hold.
    User => "converge::user",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_code_has_its_own_text_in_the_converge_namespace() {
        let texts: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(texts.len(), Code::ALL.len(), "two codes share a text");
        assert_eq!(Code::ALL.len(), 70);
        for c in Code::ALL {
            let name = c.as_str().strip_prefix("converge::").unwrap_or_else(|| panic!("{c:?}"));
            assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{c:?}");
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(Code::Missing.as_str(), "converge::missing");
        assert_eq!(Code::DuplicateProperty.as_str(), "converge::duplicate-property");
    }
}
