//! The `wasmpod` command: a thin client of the library.

pub mod args;
pub mod output;
pub mod run;
