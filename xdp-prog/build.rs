//! Compiles `src/bpf/steer.bpf.c` and `src/bpf/peer_fault.bpf.c` with clang
//! (through libbpf-cargo's skeleton builder) into `$OUT_DIR/steer.bpf.o` and
//! `$OUT_DIR/peer_fault.bpf.o`, which the loaders embed.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// (source, its header, object name in `OUT_DIR`).
const PROGRAMS: [(&str, &str, &str); 2] = [
    ("src/bpf/steer.bpf.c", "src/bpf/steer.h", "steer.bpf.o"),
    (
        "src/bpf/peer_fault.bpf.c",
        "src/bpf/peer_fault.h",
        "peer_fault.bpf.o",
    ),
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    let mut args = vec!["-Wall".to_string(), "-Werror".to_string()];
    // Debian keeps asm/types.h in the multiarch directory, which clang's BPF
    // target does not search by itself.
    if let Some(dir) = multiarch_include() {
        args.push(format!("-I{dir}"));
    }

    for (src, header, obj) in PROGRAMS {
        if let Err(e) = libbpf_cargo::SkeletonBuilder::new()
            .source(src)
            .obj(out.join(obj))
            .clang_args(args.clone())
            .build()
        {
            panic!(
                "building the BPF program {src} failed: {e:#}\n\
                 It needs clang and the kernel UAPI headers: run `make deps` \
                 (or apt-get install clang llvm libelf-dev zlib1g-dev linux-libc-dev)."
            );
        }
        println!("cargo:rerun-if-changed={src}");
        println!("cargo:rerun-if-changed={header}");
    }
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
