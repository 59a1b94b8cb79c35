//! `wasmpod run` with workloads: it ends with its Jobs, stopping the rest.
