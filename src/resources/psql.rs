//! SQL for the `postgres-*` kinds: run as the `postgres` OS user with
//! `runuser -u postgres -- psql`, everything on psql's stdin.
//!
//! Values never appear in SQL text or in any process's argv: each one is set as a psql
//! variable with `\set` (quoted by psql's rules for meta-command arguments) and used as
//! `:'name'` (psql quotes it as a literal) or `:"name"` (as an identifier). The input
//! travels in a shell variable expanded into a here-document, so the script on ssh's stdin
//! is the only place it exists. `VERBOSITY terse` keeps psql from echoing statements in
//! its errors.
//!
//! Passwords are sent as SCRAM-SHA-256 verifiers computed on the controller
//! ([`scram_verifier`]): PostgreSQL stores a verifier it is given as it is, so the clear
//! password never reaches the host, and the probe can tell whether the stored verifier
//! matches the wanted password by recomputing it with the stored salt and iteration count.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::facts::{self, Fact};
use crate::script::Sh;

/// psql's input under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Psql {
    text: String,
}

impl Psql {
    pub fn new() -> Psql {
        let mut p = Psql::default();
        p.sql("\\set VERBOSITY terse\n");
        p
    }

    /// `\set name 'value'`: `:'name'` and `:"name"` then quote it for SQL.
    pub fn var(&mut self, name: &'static str, value: &str) -> &mut Psql {
        debug_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        self.text.push_str("\\set ");
        self.text.push_str(name);
        self.text.push_str(" '");
        self.text.push_str(&meta_quote(value));
        self.text.push_str("'\n");
        self
    }

    /// SQL (or a psql meta-command) from converge's own source.
    pub fn sql(&mut self, text: &'static str) -> &mut Psql {
        self.text.push_str(text);
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The inside of a single-quoted psql meta-command argument: backslash escapes as psql
/// reads them, so any value (newlines included) stays on one line.
pub fn meta_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// Runs `input` with psql as postgres, from `/` (postgres cannot read root's home). Its
/// exit status is psql's: 2 when the server cannot be reached, 3 when a statement failed.
pub fn run(sh: &mut Sh, input: &Psql) {
    sh.set("sql", input.text());
    sh.raw("(cd / && runuser -u postgres -- psql -X -At -v ON_ERROR_STOP=1 -d postgres <<CONVERGE_SQL\n$sql\nCONVERGE_SQL\n)");
}

/// The queries of several probes in one psql session: each one's output follows a line
/// `cv_pg_K` (every line of a probe's output holds a `=`, so none is taken for a marker).
/// Sets `$cv_pg` and `$cv_pg_rc` (psql's exit status) when PostgreSQL is here.
pub static SESSION: Fact = Fact {
    name: "psql",
    min: 2,
    accepts: facts::any,
    prelude: "",
    gather: |sh, inputs| {
        let mut text = String::new();
        for (k, input) in inputs.iter().enumerate() {
            text.push_str(&format!("\\echo cv_pg_{k}\n"));
            text.push_str(input);
        }
        sh.raw("unset cv_pg_rc\nif command -v psql >/dev/null 2>&1 && id -u postgres >/dev/null 2>&1; then\ncv_pg=$(");
        run(sh, &Psql { text });
        sh.raw(" 2>/dev/null)\ncv_pg_rc=$?\nfi\n");
    },
    hand: |sh, k| {
        sh.raw("cv_pg_k=").num(k as u64).nl();
    },
};

/// The probe for `input`: prints `server=absent` (no PostgreSQL here), `server=down` (it
/// does not answer), or `server=up` and psql's output. With a batch (`$cv_pg_k` is this
/// probe's place in it), its part of the batch's output; when a statement of the batch
/// failed, the probe runs its own session, so the failure stays with its resource.
pub fn probe(sh: &mut Sh, input: &Psql) {
    sh.raw("if [ -n \"${cv_pg_k-}\" ] && [ \"${cv_pg_rc-}\" = 0 ]; then echo server=up; printf '%s\\n' \"$cv_pg\" | awk -v k=\"cv_pg_$cv_pg_k\" '$0 == k { on = 1; next } /^cv_pg_[0-9]+$/ { on = 0 } on'\n");
    sh.raw("elif [ -n \"${cv_pg_k-}\" ] && [ \"${cv_pg_rc-}\" = 2 ]; then echo server=down\n");
    sh.raw("elif ! command -v psql >/dev/null 2>&1 || ! id -u postgres >/dev/null 2>&1; then echo server=absent; else\nout=$(");
    run(sh, input);
    sh.raw(")\nrc=$?\nif [ $rc -eq 0 ]; then echo server=up; printf '%s\\n' \"$out\"; elif [ $rc -eq 2 ]; then echo server=down; else printf '%s\\n' \"server=error $rc\"; fi\nfi\n");
}

/// Waits (up to 30 s) for the server to accept connections: it may just have been
/// installed or started by an earlier step of the run.
pub fn wait_for_server(sh: &mut Sh) {
    sh.raw("i=0; until (cd / && runuser -u postgres -- psql -X -At -d postgres -c 'SELECT 1') >/dev/null 2>&1; do i=$((i+1)); if [ $i -ge 60 ]; then echo 'PostgreSQL is not accepting connections (is it installed and running?)' >&2; exit 1; fi; sleep 0.5; done\n");
}

/// What the probe said about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// PostgreSQL is not installed: nothing of it exists yet.
    Absent,
    /// Installed, not answering: what exists is unknown.
    Down,
    Up,
}

/// Reads the `server=` line.
pub fn server(rec: &super::record::Record) -> Result<Server, super::ProbeError> {
    match rec.req("server")? {
        "absent" => Ok(Server::Absent),
        "down" => Ok(Server::Down),
        "up" => Ok(Server::Up),
        other => Err(super::ProbeError(format!("psql failed ({other})"))),
    }
}

/// PostgreSQL's default iteration count for SCRAM-SHA-256.
pub const SCRAM_ITERATIONS: u32 = 4096;

/// A SCRAM-SHA-256 verifier as PostgreSQL stores it:
/// `SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY` (base64). The password is used as
/// its bytes: PostgreSQL's SASLprep leaves ASCII unchanged, and the kinds accept only
/// ASCII passwords.
pub fn scram_verifier(password: &str, salt: &[u8], iterations: u32) -> String {
    let (stored, server) = scram_keys(password, salt, iterations);
    let b64 = base64::engine::general_purpose::STANDARD;
    format!("SCRAM-SHA-256${iterations}:{}${}:{}", b64.encode(salt), b64.encode(stored), b64.encode(server))
}

fn scram_keys(password: &str, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let hmac = |key: &[u8], msg: &[u8]| -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(msg);
        m.finalize().into_bytes().into()
    };
    let client_key = hmac(&salted, b"Client Key");
    let stored: [u8; 32] = Sha256::digest(client_key).into();
    (stored, hmac(&salted, b"Server Key"))
}

/// Whether a stored verifier (`rolpassword`) is the one for `password`. Anything else
/// (no password, an md5 hash, a malformed value) is not.
pub fn scram_matches(stored: &str, password: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some(rest) = stored.strip_prefix("SCRAM-SHA-256$") else { return false };
    let Some((iter_salt, keys)) = rest.split_once('$') else { return false };
    let Some((iter, salt)) = iter_salt.split_once(':') else { return false };
    let Some((stored_key, server_key)) = keys.split_once(':') else { return false };
    let (Ok(iter), Ok(salt)) = (iter.parse::<u32>(), b64.decode(salt)) else { return false };
    if iter == 0 || iter > 10_000_000 {
        return false;
    }
    let (want_stored, want_server) = scram_keys(password, &salt, iter);
    b64.decode(stored_key).is_ok_and(|k| k == want_stored) && b64.decode(server_key).is_ok_and(|k| k == want_server)
}

/// 16 random bytes for a salt.
pub fn random_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut salt));
    if filled.is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        salt = Sha256::digest(format!("{t}:{}", std::process::id())).as_slice()[..16].try_into().unwrap_or_default();
    }
    salt
}

/// A name the probe sent as `encode(convert_to(NAME, 'UTF8'), 'hex')`: names may hold
/// newlines, which would break the probe's one-fact-per-line output.
pub fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

/// A PostgreSQL role or database name: at most 63 bytes (longer ones are cut), no NUL.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 63 && !n.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sh_out(script: &str) -> String {
        let out = Command::new("sh").arg("-c").arg(script).output().expect("sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn a_probe_reads_its_own_part_of_the_batch() {
        let output =
            "cv_pg=$(printf 'cv_pg_0\\npresent=1\\nlogin=true\\ncv_pg_1\\npresent=0\\ncv_pg_10\\npresent=1\\n')\n";
        let probe_text = |rc: u32, k: u32| {
            let mut sh = Sh::new();
            sh.raw(output).raw("cv_pg_rc=").num(rc).raw("\ncv_pg_k=").num(k).raw("\n");
            probe(&mut sh, &Psql::new());
            sh.into_text()
        };
        assert_eq!(sh_out(&probe_text(0, 0)), "server=up\npresent=1\nlogin=true\n");
        assert_eq!(sh_out(&probe_text(0, 1)), "server=up\npresent=0\n");
        assert_eq!(sh_out(&probe_text(0, 10)), "server=up\npresent=1\n");
        assert_eq!(sh_out(&probe_text(2, 1)), "server=down\n");
        // a statement of the batch failed: the probe asks on its own (no PostgreSQL here)
        assert!(!sh_out(&probe_text(3, 1)).starts_with("server=up"));
        // the batch's input: a marker before each probe's queries
        let mut sh = Sh::new();
        (SESSION.gather)(&mut sh, &["SELECT 1;\n".to_string(), "SELECT 2;\n".to_string()]);
        assert!(sh.text().contains("\\\\echo cv_pg_0\nSELECT 1;\n\\\\echo cv_pg_1\nSELECT 2;\n"), "{}", sh.text());
        assert!(sh.text().ends_with(" 2>/dev/null)\ncv_pg_rc=$?\nfi\n"), "{}", sh.text());
    }

    #[test]
    fn scram_verifier_round_trips() {
        let v = scram_verifier("pencil", b"0123456789abcdef", 4096);
        assert!(v.starts_with("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"), "{v}");
        assert!(scram_matches(&v, "pencil"));
        assert!(!scram_matches(&v, "pencil2"));
        assert!(!scram_matches("md5a3556571e93b0d20722ba62be61e8c2d", "pencil"));
        assert!(!scram_matches("", "pencil"));
        assert!(!scram_matches("SCRAM-SHA-256$x:y$z:w", "pencil"));
    }

    #[test]
    fn rfc7677_test_vector() {
        // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
        // 4096 iterations. ServerSignature there is HMAC(ServerKey, AuthMessage); check the
        // keys through the client proof instead.
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let (stored, server) = scram_keys("pencil", &salt, 4096);
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let mac = |key: &[u8], msg: &[u8]| -> Vec<u8> {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("key");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        };
        let server_sig = mac(&server, auth.as_bytes());
        assert_eq!(b64.encode(server_sig), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        let client_sig = mac(&stored, auth.as_bytes());
        let proof = b64.decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").expect("proof");
        let client_key: Vec<u8> = proof.iter().zip(&client_sig).map(|(a, b)| a ^ b).collect();
        assert_eq!(Sha256::digest(&client_key).as_slice(), stored);
    }

    #[test]
    fn meta_quote_keeps_values_on_one_line() {
        assert_eq!(meta_quote("it's"), "it\\'s");
        assert_eq!(meta_quote("a\\b\nc"), "a\\\\b\\nc");
        let mut p = Psql::new();
        p.var("name", "x'\n:\"y\"");
        assert_eq!(p.text(), "\\set VERBOSITY terse\n\\set name 'x\\'\\n:\"y\"'\n");
    }

    #[test]
    fn the_here_document_carries_any_input_verbatim() {
        let hostile = "\\set name 'a\\'b'\n$HOME `id` $(id) \\\\ \"q\"\nCONVERGE_SQL\n";
        let mut input = Psql::default();
        input.text.push_str(hostile);
        let mut sh = Sh::new();
        sh.set("sql", input.text());
        sh.raw("cat <<CONVERGE_SQL\n$sql\nCONVERGE_SQL\n");
        for shell in ["sh", "bash"] {
            let out = Command::new(shell).arg("-c").arg(sh.text()).output().expect("shell");
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{hostile}\n"), "{shell}");
        }
    }
}
