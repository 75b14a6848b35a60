//! The two packages as an embedder gets them: one version, and a crate tarball that holds every file
//! its build reads (scripts/fresh-app.sh then builds an app from the packed crate and npm tarball).

use std::path::Path;

fn cargo_manifest() -> toml::Table {
    std::fs::read_to_string("Cargo.toml")
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_crate_and_the_npm_package_have_one_version() {
    let manifest = cargo_manifest();
    let crate_version = manifest["package"]["version"].as_str().unwrap().to_string();
    let npm: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("package.json").unwrap()).unwrap();
    assert_eq!(
        npm["version"].as_str(),
        Some(crate_version.as_str()),
        "Cargo.toml and package.json are released together with one version"
    );
    let changelog = std::fs::read_to_string("CHANGELOG.md").unwrap();
    assert!(
        changelog.contains(&format!("## [{crate_version}]")),
        "CHANGELOG.md has a section for {crate_version}"
    );
}

/// Every `include_str!`/`include_dir!` path in the sources lies inside the package's `include` list,
/// so a build from the registry finds it.
#[test]
fn the_package_includes_what_the_build_reads() {
    let manifest = cargo_manifest();
    let include: Vec<String> = manifest["package"]["include"]
        .as_array()
        .expect("an explicit include list")
        .iter()
        .map(|v| v.as_str().unwrap().trim_start_matches('/').to_string())
        .collect();
    let packed = |path: &str| {
        include
            .iter()
            .any(|i| path == i || path.starts_with(&format!("{i}/")))
    };
    let mut read = vec![
        "build.rs".to_string(),
        "src/ipc/command_names.rs".to_string(),
    ];
    for file in rust_files(Path::new("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (macro_name, base) in [
            ("include_str!(\"", file.parent().unwrap()),
            ("include_bytes!(\"", file.parent().unwrap()),
        ] {
            for rest in text.split(macro_name).skip(1) {
                let rel = rest.split('"').next().unwrap();
                read.push(base.join(rel).to_string_lossy().into_owned());
            }
        }
        for rest in text.split("include_dir!(\"$CARGO_MANIFEST_DIR/").skip(1) {
            read.push(rest.split('"').next().unwrap().to_string());
        }
    }
    assert!(
        read.len() > 4,
        "the scan found the embedded files: {read:?}"
    );
    for path in read {
        assert!(Path::new(&path).exists(), "{path} exists");
        assert!(
            packed(&path),
            "{path} is read by the build but not in the package's include list"
        );
    }
    for legal in ["LICENSE", "README.md", "CHANGELOG.md"] {
        assert!(packed(legal), "{legal} ships with the crate");
    }
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}
