//! Compiles `src/bpf/steer.bpf.c` with clang (through libbpf-cargo's skeleton
//! builder) into `$OUT_DIR/steer.bpf.o`, which the loader embeds.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SRC: &str = "src/bpf/steer.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("steer.bpf.o");

    let mut args = vec!["-Wall".to_string(), "-Werror".to_string()];
    // Debian keeps asm/types.h in the multiarch directory, which clang's BPF
    // target does not search by itself.
    if let Some(dir) = multiarch_include() {
        args.push(format!("-I{dir}"));
    }

    if let Err(e) = libbpf_cargo::SkeletonBuilder::new()
        .source(SRC)
        .obj(&obj)
        .clang_args(args)
        .build()
    {
        panic!(
            "building the XDP program failed: {e:#}\n\
             It needs clang and the kernel UAPI headers: run `make deps` \
             (or apt-get install clang llvm libelf-dev zlib1g-dev linux-libc-dev)."
        );
    }
    println!("cargo:rerun-if-changed={SRC}");
    println!("cargo:rerun-if-changed=src/bpf/steer.h");
}

fn multiarch_include() -> Option<String> {
    let from_cc = Command::new("cc")
        .arg("-print-multiarch")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty());
    let triple = from_cc.or_else(|| {
        let arch = env::var("CARGO_CFG_TARGET_ARCH").ok()?;
        Some(format!("{arch}-linux-gnu"))
    })?;
    let dir = format!("/usr/include/{triple}");
    std::path::Path::new(&dir).is_dir().then_some(dir)
}
