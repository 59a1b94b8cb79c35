//! `hostile`: a guest that attacks its host, for wasmpod's adversarial tests
//! (`tests/integration/adversarial/`). It is built with the other guests but
//! is never a builtin image: tests run it from the path in
//! `wasmpod_guests::HOSTILE_PATH`.
//!
//! `hostile ATTACK [ARGS...]`; each attack lives in the module of its kind
//! and prints what it observed on stdout (`key=value` lines) so tests can
//! assert on it. Unknown attacks exit 2.

mod cpu;
mod flood;
mod fs;
mod probe;
mod resources;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((attack, rest)) = args.split_first() else {
        eprintln!("usage: hostile ATTACK [ARGS...]");
        std::process::exit(2);
    };
    let code = fs::run(attack, rest)
        .or_else(|| flood::run(attack, rest))
        .or_else(|| cpu::run(attack, rest))
        .or_else(|| resources::run(attack, rest))
        .or_else(|| probe::run(attack, rest))
        .unwrap_or_else(|| {
            eprintln!("hostile: unknown attack {attack:?}");
            2
        });
    std::process::exit(code);
}
