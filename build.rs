//! Links the `jutsu` executable at a fixed address on Linux (`-no-pie`).
//!
//! Why: a position-independent executable is relocated by the dynamic loader at every start.
//! jutsu's has about 44 000 relocations spread over some 300 pages of tables (string
//! slices, vtables, panic locations), and each page is copied on first write. On a small VM
//! that was 300 of a `--version`'s 500 page faults and about 1 ms of every command's run
//! (docs/benchmarks.md). Linked at a fixed address, the linker resolves them once.
//!
//! The cost: the executable's own code and data lose address randomisation (its libraries,
//! heap and stack keep it). jutsu reads no untrusted input but the broker's JSON over TLS
//! and its own files. Only the binaries are linked this way: the proc macros and build
//! scripts of the dependencies are untouched (a shared object cannot be linked `-no-pie`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
