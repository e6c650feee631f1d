//! The shape of a probe snippet's output: `key=value` lines, optionally followed by a
//! line `--body--` and base64 text (a file's current content).
//!
//! Kinds print their facts with `echo key=...`; values run to the end of the line. A key
//! may repeat (one line per group, per package). Anything else is a malformed record:
//! the parser says so instead of guessing.

use base64::Engine as _;

use super::ProbeError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    fields: Vec<(String, String)>,
    body: Option<String>,
}

pub const BODY_MARKER: &str = "--body--";

impl Record {
    pub fn parse(out: &str) -> Result<Record, ProbeError> {
        let mut rec = Record::default();
        let mut lines = out.lines();
        for line in lines.by_ref() {
            if line == BODY_MARKER {
                rec.body = Some(String::new());
                break;
            }
            if line.is_empty() {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(ProbeError(format!("malformed probe line {line:?}")));
            };
            rec.fields.push((k.to_string(), v.to_string()));
        }
        if let Some(body) = rec.body.as_mut() {
            for line in lines {
                body.push_str(line.trim());
            }
        }
        Ok(rec)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn req(&self, key: &str) -> Result<&str, ProbeError> {
        self.get(key).ok_or_else(|| ProbeError(format!("probe output lacks `{key}`")))
    }

    /// Every value of a repeated key, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.fields.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Every field in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Whether the probe found the command it needs on the host: its `tool=ok` or
    /// `tool=missing` line.
    pub fn tool(&self) -> Result<bool, ProbeError> {
        match self.req("tool")? {
            "ok" => Ok(true),
            "missing" => Ok(false),
            other => Err(ProbeError(format!("unexpected tool={other:?}"))),
        }
    }

    /// A number field.
    pub fn num<T: std::str::FromStr>(&self, key: &str) -> Result<T, ProbeError> {
        let v = self.req(key)?;
        v.parse().map_err(|_| ProbeError(format!("`{key}` is not a number: {v:?}")))
    }

    /// The decoded body, if the probe sent one.
    pub fn body(&self) -> Result<Option<Vec<u8>>, ProbeError> {
        match &self.body {
            None => Ok(None),
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(Some)
                .map_err(|e| ProbeError(format!("content is not valid base64: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_repeat_and_body_decodes() {
        let r = Record::parse("type=file\ngroup=a\ngroup=b\n--body--\naGVs\nbG8=\n").expect("parse");
        assert_eq!(r.get("type"), Some("file"));
        assert_eq!(r.all("group"), ["a", "b"]);
        assert_eq!(r.body().expect("b64"), Some(b"hello".to_vec()));
    }

    #[test]
    fn garbage_is_an_error_not_a_guess() {
        assert!(Record::parse("type=file\nrandom garbage\n").is_err());
        let r = Record::parse("--body--\n!!!\n").expect("parse");
        assert!(r.body().is_err());
        assert!(Record::parse("").expect("empty").req("type").is_err());
    }
}
