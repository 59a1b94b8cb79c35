//! manifests: see the module doc of `adversarial`.

#[allow(unused_imports)]
use super::*;
