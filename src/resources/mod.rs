//! Resource kinds: what converge can manage, one file per kind, one line in [`KINDS`].
//!
//! A kind implements [`Kind`]:
//!
//! - `build` reads one KDL node through a [`NodeReader`], which validates every property
//!   and reports unknown ones with "did you mean";
//! - `deps` names implicit dependencies (a file needs its managed parent directory and
//!   owner); the graph keeps those that are managed on the host;
//! - `probe` writes a read-only POSIX sh snippet; `parse` turns its output into the kind's
//!   observed `State` (pure, tested from fixtures);
//! - `diff` compares the state with what is wanted and returns field [`Change`]s, each with
//!   before and after (pure);
//! - `steps` writes the shell that makes exactly those changes, with the one quoting
//!   builder [`Sh`] (pure).
//!
//! Whether anything runs is decided once, by the engine, from the diff: a kind never
//! decides to skip itself. Every kind is turned into a [`Resource`] trait object by one
//! blanket impl, so the engine handles all kinds alike.

pub mod apt_repository;
pub mod authorized_key;
pub mod container;
pub mod content;
pub mod copy_tree;
pub mod cron;
pub mod directory;
pub mod download;
pub mod exec;
pub mod file;
pub mod git;
pub mod group;
pub mod hostname;
pub mod iptables;
pub mod line;
pub mod locale;
pub mod mount;
pub mod nginx_site;
pub mod ownership;
pub mod package;
pub mod pip;
pub mod postgres_database;
pub mod postgres_role;
pub mod psql;
pub mod record;
pub mod runas;
pub mod service;
pub mod supervisor_program;
pub mod swap_file;
pub mod symlink;
pub mod sysctl;
pub mod timezone;
pub mod ufw;
pub mod ufw_firewall;
pub mod unarchive;
pub mod unit;
pub mod user;
pub mod validate;
pub mod venv;

#[cfg(test)]
mod testing;
#[cfg(test)]
pub use testing::{b64, build_from, plan_of, plan_with};

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::facts::Need;
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

/// Every kind converge knows, in the order `--help` lists them. One line per kind.
pub static KINDS: &[KindDef] = &[
    KindDef::of::<package::Package>(),
    KindDef::of::<group::Group>(),
    KindDef::of::<user::User>(),
    KindDef::of::<directory::Directory>(),
    KindDef::of::<file::File>(),
    KindDef::of::<copy_tree::CopyTree>(),
    KindDef::of::<symlink::Symlink>(),
    KindDef::of::<download::Download>(),
    KindDef::of::<unarchive::Unarchive>(),
    KindDef::of::<unit::Unit>(),
    KindDef::of::<service::Service>(),
    KindDef::of::<supervisor_program::SupervisorProgram>(),
    KindDef::of::<postgres_role::PostgresRole>(),
    KindDef::of::<postgres_database::PostgresDatabase>(),
    KindDef::of::<git::Git>(),
    KindDef::of::<venv::Venv>(),
    KindDef::of::<pip::Pip>(),
    KindDef::of::<nginx_site::NginxSite>(),
    KindDef::of::<line::Line>(),
    KindDef::of::<container::Container>(),
    KindDef::of::<iptables::Iptables>(),
    KindDef::of::<ufw::Ufw>(),
    KindDef::of::<ufw_firewall::UfwFirewall>(),
    KindDef::of::<cron::Cron>(),
    KindDef::of::<exec::Exec>(),
    KindDef::of::<authorized_key::AuthorizedKey>(),
    KindDef::of::<apt_repository::AptRepository>(),
    KindDef::of::<sysctl::Sysctl>(),
    KindDef::of::<mount::Mount>(),
    KindDef::of::<swap_file::SwapFile>(),
    KindDef::of::<hostname::Hostname>(),
    KindDef::of::<timezone::Timezone>(),
    KindDef::of::<locale::Locale>(),
];

/// A registered kind: its name and how to build it from a node.
pub struct KindDef {
    pub name: &'static str,
    pub build: fn(&mut NodeReader) -> Option<Box<dyn Resource>>,
}

impl KindDef {
    pub const fn of<K: Kind>() -> KindDef {
        KindDef { name: K::KIND, build: build_boxed::<K> }
    }
}

fn build_boxed<K: Kind>(r: &mut NodeReader) -> Option<Box<dyn Resource>> {
    K::build(r).map(|k| Box::new(k) as Box<dyn Resource>)
}

pub fn kind_def(name: &str) -> Option<&'static KindDef> {
    KINDS.iter().find(|k| k.name == name)
}

/// `kind:name`, how resources refer to each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ResourceId {
    pub kind: &'static str,
    pub name: String,
}

impl ResourceId {
    pub fn new(kind: &'static str, name: impl Into<String>) -> ResourceId {
        ResourceId { kind, name: name.into() }
    }

    /// The file under `$CV_STATE/owed/` that records a refresh owed to this resource.
    pub fn owed_key(&self) -> String {
        let mut out = String::new();
        for b in self.to_string().bytes() {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// An implicit dependency: an edge to `target` if that resource is managed on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implicit {
    pub target: ResourceId,
    pub why: &'static str,
}

/// The name that stands for every resource of a kind in [`Implicit::every`].
pub const EVERY: &str = "*";

impl Implicit {
    pub fn new(kind: &'static str, name: impl Into<String>, why: &'static str) -> Implicit {
        Implicit { target: ResourceId::new(kind, name), why }
    }

    /// An edge from every resource of `kind` on the host (the firewall is enabled after
    /// all its rules are in place).
    pub fn every(kind: &'static str, why: &'static str) -> Implicit {
        Implicit::new(kind, EVERY, why)
    }
}

/// Every managed ancestor directory of `path` is a dependency.
pub fn parent_dirs(path: &str) -> Vec<Implicit> {
    let mut out = Vec::new();
    let mut p = std::path::Path::new(path);
    while let Some(parent) = p.parent() {
        let s = parent.to_string_lossy();
        if s.is_empty() || s == "/" {
            break;
        }
        out.push(Implicit::new("directory", s.into_owned(), "parent directory"));
        p = parent;
    }
    out
}

/// What the plan does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// In sync: nothing to do.
    Ok,
    Create,
    Change,
    Remove,
    /// Only a restart or reload owed to a notification.
    Refresh,
    /// In sync when probed, but downstream of something that changes in this run (a
    /// package that may create the file this resource wants absent): checked again, and
    /// fixed if needed, at apply time.
    Recheck,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Ok => " ",
            Action::Create => "+",
            Action::Change => "~",
            Action::Remove => "-",
            Action::Refresh => "↻",
            Action::Recheck => "?",
        }
    }
}

/// One line of a resource's plan: a field that differs, a refresh owed, or a note.
/// Serialized as one shape (`field`, `before`, `after`, `content`), the JSON report's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "ChangeRow", from = "ChangeRow")]
pub enum Change {
    /// A field from what the host has to what is wanted; `None` is absent.
    Field {
        field: String,
        before: Option<String>,
        after: Option<String>,
        /// File content: both texts, for a unified diff.
        content: Option<Content>,
    },
    /// A refresh this run owes the resource (a restart, a reload, a command's run), and
    /// why. Recorded on the host before a notifier's block runs, so that a run that dies
    /// in between leaves it owed to the next.
    Refresh { kind: Refresh, why: String },
    /// What else the plan says about the change (the container is created again).
    Note(String),
    /// Why the resource is checked again at apply time, or waits for a later round; made
    /// by the plan from a node's state, never by a kind.
    Recheck(String),
}

/// The kinds of refresh a notification asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Refresh {
    Restart,
    Reload,
    Run,
}

impl Refresh {
    pub fn as_str(self) -> &'static str {
        match self {
            Refresh::Restart => "restart",
            Refresh::Reload => "reload",
            Refresh::Run => "run",
        }
    }
}

impl Change {
    pub fn new(field: impl Into<String>, before: Option<String>, after: Option<String>) -> Change {
        Change::Field { field: field.into(), before, after, content: None }
    }
    pub fn set(field: impl Into<String>, before: impl Into<String>, after: impl Into<String>) -> Change {
        Change::new(field, Some(before.into()), Some(after.into()))
    }
    /// A content change, shown as a unified diff (or not at all, when sensitive).
    pub fn content(
        field: impl Into<String>,
        before: Option<String>,
        after: Option<String>,
        content: Content,
    ) -> Change {
        Change::Field { field: field.into(), before, after, content: Some(content) }
    }
    pub fn refresh(kind: Refresh, why: impl Into<String>) -> Change {
        Change::Refresh { kind, why: why.into() }
    }
    pub fn note(text: impl Into<String>) -> Change {
        Change::Note(text.into())
    }

    /// The name the plan shows: the field, or `restart`, `reload`, `run`, `note`,
    /// `recheck`.
    pub fn field(&self) -> &str {
        match self {
            Change::Field { field, .. } => field,
            Change::Refresh { kind, .. } => kind.as_str(),
            Change::Note(_) => "note",
            Change::Recheck(_) => "recheck",
        }
    }
    /// What the host has (`None`: absent, or not a field).
    pub fn before(&self) -> Option<&str> {
        match self {
            Change::Field { before, .. } => before.as_deref(),
            _ => None,
        }
    }
    /// What is wanted; for a refresh, a note or a re-check, its text.
    pub fn after(&self) -> Option<&str> {
        match self {
            Change::Field { after, .. } => after.as_deref(),
            Change::Refresh { why, .. } => Some(why),
            Change::Note(text) | Change::Recheck(text) => Some(text),
        }
    }
    pub fn content_shown(&self) -> Option<&Content> {
        match self {
            Change::Field { content, .. } => content.as_ref(),
            _ => None,
        }
    }
    /// The same change under another field name (a kind's `content` shown as `config`).
    pub fn renamed(self, name: &str) -> Change {
        match self {
            Change::Field { before, after, content, .. } => {
                Change::Field { field: name.into(), before, after, content }
            }
            other => other,
        }
    }
    /// Whether it is a refresh owed to a notification.
    pub fn is_refresh(&self) -> bool {
        matches!(self, Change::Refresh { .. })
    }
    /// Whether it is a refresh of this kind.
    pub fn refreshes(&self, kind: Refresh) -> bool {
        matches!(self, Change::Refresh { kind: k, .. } if *k == kind)
    }

    /// The change as it may be shown: every secret value masked, sensitive content gone.
    pub fn redacted(self, secrets: &[String]) -> Change {
        let mask = |t: String| mask(&t, secrets);
        match self {
            Change::Field { field, before, after, content } => {
                let holds = |t: &str| secrets.iter().any(|s| !s.is_empty() && t.contains(s.as_str()));
                let content = match content {
                    Some(Content::Text { before, after }) if holds(&before) || holds(&after) => {
                        Some(Content::Sensitive)
                    }
                    other => other,
                };
                Change::Field { field, before: before.map(mask), after: after.map(mask), content }
            }
            Change::Refresh { kind, why } => Change::Refresh { kind, why: mask(why) },
            Change::Note(text) => Change::Note(mask(text)),
            Change::Recheck(text) => Change::Recheck(mask(text)),
        }
    }
}

/// Replaces every secret value in `text`.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "********");
    }
    out
}

/// [`Change`] as the JSON report has always shown it.
#[derive(Serialize, Deserialize)]
struct ChangeRow {
    field: String,
    before: Option<String>,
    after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<Content>,
}

impl From<Change> for ChangeRow {
    fn from(c: Change) -> ChangeRow {
        let field = c.field().to_string();
        match c {
            Change::Field { before, after, content, .. } => ChangeRow { field, before, after, content },
            Change::Refresh { why, .. } => ChangeRow { field, before: None, after: Some(why), content: None },
            Change::Note(text) | Change::Recheck(text) => {
                ChangeRow { field, before: None, after: Some(text), content: None }
            }
        }
    }
}

impl From<ChangeRow> for Change {
    fn from(r: ChangeRow) -> Change {
        let text = r.after.clone().unwrap_or_default();
        match (r.field.as_str(), &r.before, &r.content) {
            ("restart", None, None) => Change::refresh(Refresh::Restart, text),
            ("reload", None, None) => Change::refresh(Refresh::Reload, text),
            ("run", None, None) => Change::refresh(Refresh::Run, text),
            ("note", None, None) => Change::Note(text),
            ("recheck", None, None) => Change::Recheck(text),
            _ => Change::Field { field: r.field, before: r.before, after: r.after, content: r.content },
        }
    }
}

/// How a content change is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Content {
    /// Both sides are text: the report shows a unified diff. `before` is empty for a new file.
    Text { before: String, after: String },
    /// Binary or too large to show.
    Opaque { reason: String },
    /// Marked sensitive: never shown anywhere.
    Sensitive,
}

/// The outcome of diffing one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub action: Action,
    pub changes: Vec<Change>,
    /// Not empty for a change that waits for these resources ([`Diff::deferred`]).
    pub waits_for: Vec<ResourceId>,
}

impl Diff {
    pub fn ok() -> Diff {
        Diff { action: Action::Ok, changes: Vec::new(), waits_for: Vec::new() }
    }
    pub fn new(action: Action, changes: Vec<Change>) -> Diff {
        if changes.is_empty() { Diff::ok() } else { Diff { action, changes, waits_for: Vec::new() } }
    }
    pub fn is_ok(&self) -> bool {
        self.action == Action::Ok
    }

    /// A change that cannot be planned yet, because something upstream changes the host
    /// first and the steps are computed from what was probed (`line`). Shown as `?` with
    /// `changes` (what the probe suggests) and what it waits for; it gets no block in the
    /// first apply round, is probed again after it and, if it still differs, planned from
    /// that probe and applied in the second round (the plan's `NodeState::Deferred`).
    pub fn deferred(changes: Vec<Change>, upstream: &[ResourceId]) -> Diff {
        Diff { action: Action::Recheck, changes, waits_for: upstream.to_vec() }
    }

    /// Whether it waits for a later round (see [`Diff::deferred`]).
    pub fn is_deferred(&self) -> bool {
        !self.waits_for.is_empty()
    }
}

/// `a, b and 4 more change`, `a changes`: the resources a re-check waits for, as the
/// plan names them.
pub fn changing(ids: &[ResourceId]) -> String {
    const SHOWN: usize = 3;
    let mut names: Vec<String> = ids.iter().take(SHOWN).map(|i| i.to_string()).collect();
    if ids.len() > SHOWN {
        names.push(format!("{} more", ids.len() - SHOWN));
    }
    let names = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    };
    format!("{names} change{}", if ids.len() == 1 { "s" } else { "" })
}

/// What the engine tells a kind beyond its own probe: notifications, owed refreshes and
/// the changes planned upstream of it.
#[derive(Debug, Clone, Default)]
pub struct PlanCx {
    /// Resources that notify this one and change in this run.
    pub notified_by: Vec<ResourceId>,
    /// An earlier run recorded a refresh it owed and did not finish.
    pub owed: bool,
    /// Resources this one depends on (directly or not) that change in this run, when
    /// planning from the first probe. A kind whose steps are computed from what it probed
    /// (`line` edits the probed text) may defer itself while they are pending: see
    /// [`Diff::deferred`].
    pub upstream: Vec<ResourceId>,
    /// Resources before this one in apply order that change in this run, when planning
    /// from the first probe, whether or not it depends on them: declaration order is a
    /// promise, so what is missing now may be made by one of them (`line`'s file, which a
    /// package installs).
    pub earlier: Vec<ResourceId>,
    /// What earlier resources of this run leave in files that this one edits too (see
    /// [`Kind::same_file`]): the path's text after them, to plan from instead of the text
    /// probed before them.
    pub texts: std::sync::Arc<std::collections::BTreeMap<String, Vec<u8>>>,
}

/// A probe's output did not have the shape its parser expects: the host is lying, or
/// a tool on it behaves unexpectedly. Never treated as "nothing to do".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError(pub String);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resource kind. See the module documentation for the contract.
pub trait Kind: fmt::Debug + Send + Sync + Sized + 'static {
    /// The node name in a playbook and the `kind` in `kind:name`.
    const KIND: &'static str;
    type State: fmt::Debug + Send + Sync + 'static;

    fn build(r: &mut NodeReader) -> Option<Self>;
    fn name(&self) -> &str;
    /// Further names this resource answers to (a package node naming several packages).
    fn aliases(&self) -> Vec<String> {
        Vec::new()
    }
    fn deps(&self) -> Vec<Implicit> {
        Vec::new()
    }
    /// Whether `notify` may point at this resource (it has a refresh: restart, reload).
    fn notifiable(&self) -> bool {
        false
    }
    /// Values that must never be printed (secret content).
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
    fn probe(&self, sh: &mut Sh);
    /// The facts the snippet of [`Kind::probe`] can use, gathered once for every
    /// resource of a host that needs them ([`crate::facts`]); the snippet reads its part
    /// when it was handed one, and asks on its own otherwise.
    fn facts(&self) -> Vec<Need> {
        Vec::new()
    }
    fn parse(&self, out: &str) -> Result<Self::State, ProbeError>;
    fn diff(&self, state: &Self::State, cx: &PlanCx) -> Diff;
    fn steps(&self, state: &Self::State, diff: &Diff, sh: &mut Sh);
    /// Steps that check and fix at apply time, for a resource that was in sync when
    /// probed but may be changed by an earlier step of the same run (a package install
    /// creating the default site this resource removes, or starting the service it
    /// stops). They depend only on what is wanted, and mark that they acted with
    /// `: > "$CV_A"`. Kinds without them are re-verified after the apply instead.
    fn recheck(&self, _sh: &mut Sh) -> bool {
        false
    }
    /// Whether the re-check steps also run for an in-sync resource that merely comes after
    /// a change in apply order, with no edge to it (`exec`: its guards look at whatever an
    /// earlier step may have changed, as Ansible evaluates a command's `creates` and
    /// `unless` at its turn). Other kinds with [`Kind::recheck`] are re-checked only
    /// downstream of a change, and otherwise left to the verify and a second round.
    fn recheck_in_order(&self) -> bool {
        false
    }
    /// Whether `steps` decide at apply time whether to act (a command behind guards that
    /// are evaluated again when it is about to run) and mark that they acted with
    /// `: > "$CV_A"`. A block whose steps did not mark it counts as in sync, not changed.
    fn marks_acted(&self) -> bool {
        false
    }
    /// The file this resource edits in place, when several resources of its kind may edit
    /// the same one (`line`). Those are chained in declaration order: each requires the
    /// one before it, and is planned from the text the one before leaves
    /// ([`PlanCx::texts`], [`Kind::rebase`], [`Kind::leaves`]), so that every edit of the
    /// run lands and each step finds the file exactly as planned.
    fn same_file(&self) -> Option<&str> {
        None
    }
    /// The state to plan from, given what earlier resources of the run leave.
    fn rebase(&self, state: Self::State, _cx: &PlanCx) -> Self::State {
        state
    }
    /// The text this change leaves in [`Kind::same_file`].
    fn leaves(&self, _state: &Self::State, _diff: &Diff) -> Option<Vec<u8>> {
        None
    }
}

/// A resource planned from its probe: its diff, and what its steps are written from.
#[derive(Debug)]
pub struct Planned {
    pub diff: Diff,
    /// The probed state and the diff, kept for writing the steps at apply time.
    pub basis: Basis,
    /// The file this change edits and its text afterwards, for a later resource that edits
    /// the same file ([`Kind::same_file`]).
    pub leaves: Option<(String, Vec<u8>)>,
}

/// What a kind planned from: its probed state and its diff, unredacted. It lives in
/// memory between the probe and the apply script and is never serialized nor shown (it
/// may hold secret values); the plan itself holds only what may be shown.
pub struct Basis(Box<dyn std::any::Any + Send + Sync>);

impl fmt::Debug for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Basis(..)")
    }
}

/// The object-safe face of every kind, used by the engine.
pub trait Resource: fmt::Debug + Send + Sync {
    fn id(&self) -> ResourceId;
    fn aliases(&self) -> Vec<String>;
    fn deps(&self) -> Vec<Implicit>;
    fn notifiable(&self) -> bool;
    fn secrets(&self) -> Vec<String>;
    fn probe(&self, sh: &mut Sh);
    fn facts(&self) -> Vec<Need>;
    fn same_file(&self) -> Option<String>;
    /// Parses the probe output and diffs.
    fn plan(&self, out: &str, cx: &PlanCx) -> Result<Planned, ProbeError>;
    /// The steps that make the change planned from `basis` (which [`Resource::plan`] of
    /// this resource made); `None` if it came from another resource.
    fn write_steps(&self, basis: &Basis) -> Option<Sh>;
    /// The apply-time check-and-fix steps, if the kind has them (see [`Kind::recheck`]).
    fn recheck(&self) -> Option<Sh>;
    /// See [`Kind::recheck_in_order`].
    fn recheck_in_order(&self) -> bool;
    /// See [`Kind::marks_acted`].
    fn marks_acted(&self) -> bool;
}

impl<K: Kind> Resource for K {
    fn id(&self) -> ResourceId {
        ResourceId::new(K::KIND, self.name())
    }
    fn aliases(&self) -> Vec<String> {
        Kind::aliases(self)
    }
    fn deps(&self) -> Vec<Implicit> {
        Kind::deps(self)
    }
    fn notifiable(&self) -> bool {
        Kind::notifiable(self)
    }
    fn secrets(&self) -> Vec<String> {
        Kind::secrets(self)
    }
    fn probe(&self, sh: &mut Sh) {
        Kind::probe(self, sh)
    }
    fn facts(&self) -> Vec<Need> {
        Kind::facts(self)
    }
    fn same_file(&self) -> Option<String> {
        Kind::same_file(self).map(str::to_string)
    }
    fn plan(&self, out: &str, cx: &PlanCx) -> Result<Planned, ProbeError> {
        let state = self.rebase(self.parse(out)?, cx);
        let diff = self.diff(&state, cx);
        let mut leaves = None;
        if !diff.is_ok()
            && let (Some(path), Some(text)) = (Kind::same_file(self), self.leaves(&state, &diff))
        {
            leaves = Some((path.to_string(), text));
        }
        Ok(Planned { diff: diff.clone(), basis: Basis(Box::new((state, diff))), leaves })
    }
    fn write_steps(&self, basis: &Basis) -> Option<Sh> {
        let (state, diff) = basis.0.downcast_ref::<(K::State, Diff)>()?;
        let mut sh = Sh::new();
        if !diff.is_ok() && !diff.is_deferred() {
            Kind::steps(self, state, diff, &mut sh);
        }
        Some(sh)
    }
    fn recheck(&self) -> Option<Sh> {
        let mut sh = Sh::new();
        Kind::recheck(self, &mut sh).then_some(sh)
    }
    fn recheck_in_order(&self) -> bool {
        Kind::recheck_in_order(self)
    }
    fn marks_acted(&self) -> bool {
        Kind::marks_acted(self)
    }
}
