//! Generates the tonic/prost code. `protoc` comes from `protoc-bin-vendored`,
//! so a machine without a system protoc builds this crate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // Ordered maps: listings and JSON output come out the same every time.
        .btree_map(".")
        .file_descriptor_set_path(out_dir.join("scheduler_descriptor.bin"))
        .compile_protos(
            &[
                "scheduler/v1/scheduler.proto",
                "scheduler/v1/worker.proto",
                "scheduler/v1/acl.proto",
                "scheduler/v1/calendar.proto",
                "scheduler/internal/v1/internal.proto",
            ],
            &["."],
        )?;
    println!("cargo:rerun-if-changed=scheduler");
    Ok(())
}
