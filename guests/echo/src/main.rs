//! `echo`: prints its arguments separated by spaces, as `echo` does, and
//! exits 0. A plain `wasi:cli` command with no wasmpod imports: the
//! benchmarks run this one component both as a pod and under `wasmtime run`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("{}", args.join(" "));
}
