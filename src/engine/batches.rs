//! Rolling batches (`--serial`, Ansible's `serial`): the hosts converged a batch at a
//! time, each batch done (applied and verified) before the next starts, and the rollout
//! stopped when a batch fails beyond `--max-fail-percentage` (by default, when any host
//! of a batch fails): the hosts left are reported "not run", untouched.

use std::fmt;

/// One size of `--serial`: a number of hosts, or a percentage of all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    Hosts(usize),
    Percent(u8),
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Hosts(n) => write!(f, "{n}"),
            BatchSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// The sizes `--serial` gives, as one command-line value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serial(pub Vec<BatchSize>);

/// [`parse_serial`], for clap.
pub fn parse_serial_arg(text: &str) -> Result<Serial, String> {
    parse_serial(text).map(Serial)
}

/// `--serial 1,5,25%`: the sizes of the first batches; the last one repeats for the rest.
pub fn parse_serial(text: &str) -> Result<Vec<BatchSize>, String> {
    let bad = |part: &str| format!("`{part}` is not a batch size: write a number of hosts (5) or a percentage (25%)");
    text.split(',')
        .map(str::trim)
        .map(|part| match part.strip_suffix('%') {
            Some(p) => match p.parse::<u8>() {
                Ok(p) if (1..=100).contains(&p) => Ok(BatchSize::Percent(p)),
                _ => Err(bad(part)),
            },
            None => match part.parse::<usize>() {
                Ok(n) if n > 0 => Ok(BatchSize::Hosts(n)),
                _ => Err(bad(part)),
            },
        })
        .collect()
}

/// The batches of `total` hosts, as lengths in host order: each size in turn (a
/// percentage of `total`, rounded down, at least one host), the last repeated; no sizes
/// is one batch of every host.
pub fn batches(total: usize, sizes: &[BatchSize]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = total;
    let mut k = 0;
    while left > 0 {
        let n = match sizes.get(k).or(sizes.last()) {
            None => left,
            Some(BatchSize::Hosts(n)) => *n,
            Some(BatchSize::Percent(p)) => (total * usize::from(*p) / 100).max(1),
        };
        let n = n.min(left);
        out.push(n);
        left -= n;
        k += 1;
    }
    out
}

/// Whether a batch of `size` hosts with `failed` of them failed stops the rollout: more
/// than `max_fail_percentage` of the batch failed.
pub fn stops(failed: usize, size: usize, max_fail_percentage: u8) -> bool {
    failed * 100 > size * usize::from(max_fail_percentage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_hosts_or_percentages_and_the_last_repeats() {
        let s = parse_serial("1, 2,50%").expect("sizes");
        assert_eq!(s, [BatchSize::Hosts(1), BatchSize::Hosts(2), BatchSize::Percent(50)]);
        assert_eq!(batches(10, &s), [1, 2, 5, 2]);
        assert_eq!(batches(3, &[BatchSize::Hosts(1)]), [1, 1, 1]);
        assert_eq!(batches(3, &[BatchSize::Percent(10)]), [1, 1, 1], "at least one host");
        assert_eq!(batches(4, &[]), [4]);
        assert_eq!(batches(0, &s), Vec::<usize>::new());
        for bad in ["0", "x", "0%", "101%", "", "1,,2"] {
            assert!(parse_serial(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_batch_stops_the_rollout_when_more_than_the_percentage_failed() {
        assert!(stops(1, 4, 0));
        assert!(!stops(0, 4, 0));
        assert!(!stops(1, 4, 25));
        assert!(stops(2, 4, 25));
        assert!(!stops(4, 4, 100));
    }
}
