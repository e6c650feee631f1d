//! Reading KDL: the helpers that turn nodes and entries into typed values with
//! diagnostics on the exact token (`kdl`), and the reader each kind builds itself from
//! (`reader`). Below both the kinds and the playbook, which import it and not each
//! other's internals.

pub mod kdl;
pub mod reader;
