//! The command line, declared with xflags; `cargo xtask --help` prints it.

#![allow(
    unreachable_pub,
    reason = "xflags generates `pub` items inside this private module"
)]

use std::ffi::OsString;

xflags::xflags! {
    /// The project's tasks, run from anywhere in the repository as `cargo xtask COMMAND`.
    cmd xtask {
        /// Everything CI runs, in order, stopping at the first failure with a non-zero exit:
        /// fmt, tidy, clippy (warnings denied), tests, doctests, docs (warnings denied),
        /// `cargo package` of the publishable crates, the conformance suite, the pcap check,
        /// the Prosody and netns interop, and each fuzz target built and run briefly.
        /// `.ci/run` calls this.
        cmd ci {
            /// Leave out the fuzz step, for quick local runs (CI never passes it).
            optional --skip-fuzz
            /// The most each fuzz target runs, in seconds (default 120); each runs 200 000 inputs
            /// from a fixed libFuzzer seed unless this cuts it short.
            optional --fuzz-seconds seconds: u64
        }
        /// The conformance suite: `jingle-ice-conformance run ARGS...`. Every argument after
        /// `conformance`, flags included (`--json`, `--filter TEXT`, `--topology FILE`, `--help`),
        /// goes to the suite unchanged, and the exit code is the suite's.
        cmd conformance {
            /// Arguments for `jingle-ice-conformance run`.
            repeated args: OsString
        }
        /// One fuzz target, for longer: builds it and runs it on `fuzz/corpus/TARGET`
        /// (with RUSTC_BOOTSTRAP=1 on the stable toolchain; installs cargo-fuzz if missing).
        /// Without TARGET: the fuzz step of `ci` alone (every target built, each run as in `ci`).
        cmd fuzz {
            /// The target, one of `cargo fuzz list`.
            optional target: String
            /// How long to run, in seconds (default 300 for one target; without TARGET, the most
            /// each runs, default 120).
            optional --seconds seconds: u64
        }
        /// The benchmarks (criterion), one after another.
        cmd bench {}
        /// `cargo package` of every publishable crate, as the CI step does (before a release).
        cmd package {}
        /// The tree's shape: each crate's module graph (edges between sibling modules), import
        /// loops, and source files over 800 lines; fails on a loop or an unexplained long file.
        cmd tidy {}
    }
}
