//! flood attacks.

/// Runs `attack` if it is one of this module's; `None` otherwise.
pub fn run(attack: &str, args: &[String]) -> Option<i32> {
    let _ = args;
    match attack {
        _ => None,
    }
}
