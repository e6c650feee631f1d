//! The five seed playbooks as the benchmarks run them: each with its sandbox inventory
//! (playbooks/NAME.sandbox.kdl), its host's name and the secrets its runs need (made-up
//! values; the playbooks read them from the environment).

pub struct Seed {
    /// playbooks/NAME.kdl, with playbooks/NAME.sandbox.kdl
    pub name: &'static str,
    pub host: &'static str,
    pub env: &'static [(&'static str, &'static str)],
}

pub const SEEDS: &[Seed] = &[
    Seed { name: "ranch", host: "ranch-869", env: &[] },
    Seed { name: "jacow", host: "jacow", env: &[] },
    Seed { name: "ramascene", host: "ramascene", env: &[("RAMASCENE_SECRET_KEY", "bench-key")] },
    Seed {
        name: "elife-bot",
        host: "elife-bot",
        env: &[("ELIFE_AWS_ACCESS_KEY_ID", "bench-id"), ("ELIFE_AWS_SECRET_ACCESS_KEY", "bench-secret")],
    },
    Seed {
        name: "kano-konnect",
        host: "kano-konnect-webserver",
        env: &[("KANO_DB_PASSWORD", "bench-db"), ("KANO_DJANGO_SECRET_KEY", "bench-key")],
    },
];
