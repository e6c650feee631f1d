//! Helpers for the kinds' unit tests: a kind's plan from a probe output, and a kind built
//! from a KDL text with its diagnostics as plain lines. Compiled for tests only.

use super::{Diff, Kind, NodeReader, PlanCx, Resource};

/// A kind's plan (diff and step text) from a probe output, for unit tests.
pub fn plan_with<K: Kind>(k: &K, out: &str, cx: &PlanCx) -> (Diff, String) {
    let planned = Resource::plan(k, out, cx).expect("parse");
    let steps = Resource::write_steps(k, &planned.basis).expect("its own basis");
    (planned.diff, steps.into_text())
}

/// [`plan_with`] without notifications.
pub fn plan_of<K: Kind>(k: &K, out: &str) -> (Diff, String) {
    plan_with(k, out, &PlanCx::default())
}

/// Base64 of a text, as probe outputs carry file contents.
pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Reads the first node of a KDL text with `read` (given a [`NodeReader`] over it), then
/// finishes the reader: what `read` returned, whether the reader found no error, and every
/// diagnostic. The setup of [`build_from`] and of tests that prepare the reader first.
pub fn read_first_node<T>(
    kdl: &str,
    read: impl FnOnce(&mut NodeReader) -> T,
) -> Result<(T, bool, crate::diag::Diags), Vec<String>> {
    let src = crate::diag::source("test.kdl", kdl.to_string());
    let doc = crate::syntax::kdl::parse(&src).map_err(|d| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>())?;
    let node = doc.nodes().first().expect("a node");
    let dir = std::path::Path::new(".");
    let templates = crate::template::Templates::new(dir);
    let ctx = minijinja::Value::from(std::collections::BTreeMap::<String, minijinja::Value>::new());
    let mut diags = crate::diag::Diags::default();
    let mut r = NodeReader::new(node, &src, dir, &templates, &ctx, &mut diags);
    let value = read(&mut r);
    let ok = r.finish();
    Ok((value, ok, diags))
}

/// Builds a kind from the first node of a KDL text, for unit tests: the kind, or the
/// messages and labels of its diagnostics (`message @ label`).
pub fn build_from<K: Kind>(kdl: &str) -> Result<K, Vec<String>> {
    let (built, ok, diags) = read_first_node(kdl, K::build)?;
    match built {
        Some(k) if ok => Ok(k),
        _ => Err(diags
            .iter()
            .map(|d| {
                let label = d.labels.first().and_then(|l| l.label()).unwrap_or("");
                format!("{} @ {label}", d.message)
            })
            .collect()),
    }
}

/// `ACTS_AS_USER` is exactly the kinds that ask for `become-user`: every other kind
/// reports it when written on the resource.
#[test]
fn the_kinds_said_to_act_as_a_user_are_those_that_ask_for_become_user() {
    use crate::diag::Code;
    use crate::syntax::reader::{ACTS_AS_USER, Become};
    for def in super::KINDS {
        let text = format!("{} \"/x\" become-user=\"deploy\"\n", def.name);
        let (_, _, diags) = read_first_node(&text, |r| {
            let at = r.at();
            r.set_become(Some(Become { user: "deploy".into(), at, own: true }));
            (def.build)(r).is_some()
        })
        .expect("kdl");
        let refused = diags.iter().any(|d| d.code == Code::Become);
        let unknown = diags.iter().any(|d| d.message.contains("become-user"));
        assert_eq!(
            refused,
            !ACTS_AS_USER.contains(&def.name),
            "{}: {:?}",
            def.name,
            diags.iter().map(|d| &d.message).collect::<Vec<_>>()
        );
        assert_eq!(unknown, refused, "{}: reported once, by its own error", def.name);
    }
}
