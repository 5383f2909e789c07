//! tcprules (compile a rules file into a CDB, atomically) and
//! tcprulescheck (show which rule applies). Grammar and lookup live in
//! `common::rules`, the database format in `common::cdb`.

pub mod check;
pub mod compile;
