//! The command line (clap derive): one enum of commands, shared options in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  check   0 = the playbook is valid, 1 = it is not
  diff    0 = nothing to change, 2 = changes pending, 1 = an error (invalid playbook,
          unreachable host, unreadable probe)
  apply   0 = every host converged, 1 = anything failed (invalid playbook, unreachable
          host, failed or skipped step, a change that did not converge; from a saved plan,
          a host refused or left needing a new plan; with --serial, a host not run because
          an earlier batch failed)
          with --detailed-exitcode: 0 = nothing changed, 2 = something changed and
          converged, 1 = anything failed
  run     0 = the command exited 0 on every host, 1 = a host was unreachable or it failed
  graph   0 = the graph was printed, 1 = the playbook is invalid
  (all)   1 = the command line cannot be read (an unknown option, a missing argument)";

#[derive(Debug, Parser)]
#[command(
    name = "converge",
    version,
    about = "Declarative configuration convergence: KDL playbooks, one probe, one apply and one verify per host over SSH.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a playbook offline: no host is contacted
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Probe the hosts and print the plan; changes nothing
    #[command(after_help = EXIT_CODES)]
    Diff(RunArgs),
    /// Probe, plan, apply and verify every host; or apply a plan saved by `diff --out`
    #[command(after_help = EXIT_CODES)]
    Apply(ApplyArgs),
    /// Boot a local systemd container per host of the playbook and apply it there
    #[command(
        after_help = "Needs root, systemd-nspawn and debootstrap (installed with apt-get when missing).\nThe container's root filesystem is built once and cached under /var/cache/converge."
    )]
    Sandbox(SandboxArgs),
    /// Gather and print the facts of the hosts a pattern selects (and keep them for the next run)
    Facts(FactsArgs),
    /// Run one command on the hosts a pattern selects (Ansible's ad-hoc command)
    #[command(
        after_help = "Example: converge run web -p site.kdl -- systemctl restart nginx\n\nThe command's words are passed as they are, without a shell (write `-- sh -c 'a | b'` for one),\nwith no standard input, as the inventory's user (through `sudo -n` when the host has become=#true).\nExit codes: 0 = it ran and exited 0 on every host, 1 = a host was unreachable or the command failed on it."
    )]
    Run(AdHocArgs),
    /// Print the dependency graph of one host (Graphviz dot or Mermaid); no host is contacted
    #[command(after_help = GRAPH_HELP)]
    Graph(GraphArgs),
    /// Print a completion script for a shell
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the manual page (roff): every command and option, one section per command
    #[command(after_help = "Example: converge man > converge.1 && man ./converge.1")]
    Man,
}

const GRAPH_HELP: &str = "\
The playbook is expanded for the host as `check` expands it: with stand-in facts, and every
resource under a `when` drawn (dashed outline) whatever its condition says. An edge goes from
a dependency to its dependent (from a notifier to what it notifies): `require`, `notify` and
`subscribe` drawn solid, what a kind implies (a parent directory, an owner) dashed, labelled
with its reason.

Example: converge graph site.kdl --host web-1 | dot -Tsvg > web-1.svg
Exit codes: 0 = the graph was printed, 1 = the playbook is invalid (as `check` reports it).";

const COMPLETIONS_HELP: &str = "\
Examples:
  converge completions bash > ~/.local/share/bash-completion/completions/converge
  converge completions zsh > ~/.zfunc/_converge     (with fpath+=~/.zfunc before compinit)
  converge completions fish > ~/.config/fish/completions/converge.fish";

/// `converge apply`: the options of every run, and what only `apply` takes.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Exit 2 when something changed (and converged), 0 when nothing needed to, 1 when
    /// anything failed (as Terraform's and Puppet's --detailed-exitcode)
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The playbook (KDL)
    pub playbook: PathBuf,
    /// The host whose graph to draw (default: the first host of the inventory)
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// An inventory file that replaces the playbook's hosts and groups
    #[arg(long, short = 'i', value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Output format: Graphviz (`dot -Tsvg`) or a Mermaid flowchart
    #[arg(long, value_enum, default_value_t = crate::graph_render::GraphFormat::Dot)]
    pub format: crate::graph_render::GraphFormat,
    /// Never colour output
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `converge completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct AdHocArgs {
    /// The hosts: names, groups, globs, as `--limit` takes them (`all` for every host)
    pub pattern: String,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// The playbook whose hosts these are
    #[arg(long, short = 'p', value_name = "FILE", required_unless_present = "inventory")]
    pub playbook: Option<PathBuf>,
    /// An inventory file (replaces the playbook's hosts, or stands alone)
    #[arg(long, short = 'i', value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// How many hosts to work on at once
    #[arg(long, short = 'f', default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: u16,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Ask once for the sudo password of the hosts with become=#true and no become-password
    /// secret (on the terminal; from the first line of standard input when it is not one)
    #[arg(long, short = 'K')]
    pub ask_become_pass: bool,
    /// Never colour output
    #[arg(long)]
    pub no_color: bool,
}

/// How converge reaches the hosts over ssh: the same options on `diff`, `apply`, `run`
/// and `facts`.
#[derive(Debug, Args)]
pub struct SshArgs {
    /// Read this ssh config file instead of ~/.ssh/config (as `ssh -F`)
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Refuse hosts whose key is not already in known_hosts (default: accept and record new keys; a changed key is always refused)
    #[arg(long)]
    pub strict_host_keys: bool,
    /// Seconds to wait for a host to answer before reporting it unreachable
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_timeout: u64,
    /// Seconds each host's ssh master stays up, idle, after the run, so that the next run
    /// reuses it without connecting again (as Ansible's ControlPersist); 0 closes them at the end
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub control_persist: u64,
}

impl SshArgs {
    pub fn options(&self) -> crate::transport::ssh::SshOptions {
        use std::time::Duration;
        crate::transport::ssh::SshOptions {
            config_file: self.ssh_config.clone(),
            strict_host_keys: self.strict_host_keys,
            connect_timeout: Duration::from_secs(self.connect_timeout),
            persist: (self.control_persist > 0).then(|| Duration::from_secs(self.control_persist)),
        }
    }
}

#[derive(Debug, Args)]
pub struct FactsArgs {
    /// The hosts: names, groups, globs, as `--limit` takes them (`all` for every host)
    #[arg(default_value = "all")]
    pub pattern: String,
    /// The playbook whose hosts these are
    #[arg(long, short = 'p', value_name = "FILE", required_unless_present = "inventory")]
    pub playbook: Option<PathBuf>,
    /// An inventory file (replaces the playbook's hosts, or stands alone)
    #[arg(long, short = 'i', value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Never colour output
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The playbook (KDL)
    pub playbook: PathBuf,
    /// An inventory file that replaces the playbook's hosts and groups
    #[arg(long, short = 'i', value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Never colour output
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The playbook (KDL); for `apply`, also a plan saved by `diff --out`
    pub playbook: PathBuf,
    /// Only print the plan (for `apply`, the same as `diff`); never changes anything
    #[arg(long)]
    pub dry_run: bool,
    /// An inventory file that replaces the playbook's hosts and groups
    #[arg(long, short = 'i', value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// How many hosts to work on at once
    #[arg(long, short = 'f', default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: u16,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Ask once for the sudo password of the hosts with become=#true and no become-password
    /// secret (on the terminal; from the first line of standard input when it is not one)
    #[arg(long, short = 'K')]
    pub ask_become_pass: bool,
    /// diff: save the plan to FILE; `converge apply FILE` then applies exactly it, refusing
    /// every host that changed since
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// apply: converge the hosts in rolling batches, each done before the next starts:
    /// sizes in hosts or percent, the last repeated (`1,5,25%`)
    #[arg(long, value_name = "SIZES", value_parser = crate::engine::batches::parse_serial_arg)]
    pub serial: Option<crate::engine::batches::Serial>,
    /// apply --serial: stop the rollout when more than this share of a batch fails
    /// (default 0: any failed host stops it)
    #[arg(long, value_name = "PERCENT", requires = "serial", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_fail_percentage: Option<u8>,
    /// apply FILE: refuse a saved plan older than this (`30m`, `2h`, `1d`)
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub max_age: Option<std::time::Duration>,
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// Never colour output
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The playbook (KDL); its hosts are replaced by local containers of the same names
    pub playbook: PathBuf,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Keep the containers running after the run and print how to reach them
    #[arg(long)]
    pub keep: bool,
    /// The Debian mirror to build the container image from (default: the machine's own
    /// apt sources)
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// Never colour output
    #[arg(long)]
    pub no_color: bool,
}

/// Which hosts and resources a run takes: the same options on diff, apply and sandbox.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only the hosts this Ansible host pattern selects: host names, group names or globs joined
    /// by `:` or `,`; `&` narrows, `!` excludes (`web:&eu:!web-3`)
    #[arg(long, short = 'l', value_name = "PATTERN")]
    pub limit: Option<String>,
    /// Only resources with one of these tags, and what they need (comma-separated or repeated)
    #[arg(long, short = 't', value_name = "TAGS", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Never resources with one of these tags, even when a selected one needs them
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    pub skip_tags: Vec<String>,
}

impl SelectArgs {
    /// What `--tags` and `--skip-tags` select.
    pub fn selection(&self) -> crate::graph::Selection {
        crate::graph::Selection { tags: self.tags.clone(), skip_tags: self.skip_tags.clone() }
    }
}

/// What a run shows of its progress: the same options on diff, apply and sandbox.
#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// No progress on stderr (the report is still printed)
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    pub quiet: bool,
    /// A failed step's output under its line, and on a terminal every finished step kept on a
    /// line of its own (with --format json and no terminal, progress lines only with this)
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Write every event of the run to FILE as a JSON line (secrets masked; mode 0600)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

impl ProgressArgs {
    /// What `--quiet`, `--verbose` and `--log` ask of a run's progress, in `format`.
    pub fn show(&self, format: Format) -> crate::progress::Show {
        use std::io::IsTerminal as _;
        let terminal = std::io::stderr().is_terminal();
        crate::progress::Show {
            style: crate::progress::Show::style(self.quiet, self.verbose, format == Format::Json, terminal),
            verbose: self.verbose,
            log: self.log.clone(),
        }
    }
}
