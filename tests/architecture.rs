//! `docs/architecture.md` stays true to the tree: every path it names exists, every area folder of
//! the core is named in it, the core imports neither Tauri nor axum, and SQL is written only in the
//! store.

use std::path::Path;

const DOC: &str = "docs/architecture.md";

fn doc() -> String {
    std::fs::read_to_string(DOC).expect("docs/architecture.md exists")
}

/// The `code spans` of the page that look like repository paths.
fn named_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            let top = ["src/", "migrations/", "docs/", "guest-js/", "tests/"];
            top.iter().any(|t| s.starts_with(t)) && !s.contains(' ') && !s.contains('*')
        })
        .map(|s| s.trim_end_matches('/').to_string())
        .filter(|s| !s.contains("NN-name"))
        .collect()
}

#[test]
fn every_path_the_page_names_exists() {
    let text = doc();
    let paths = named_paths(&text);
    assert!(paths.len() > 40, "the page names the files it describes");
    let missing: Vec<_> = paths.iter().filter(|p| !Path::new(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "{DOC} names files that do not exist: {missing:?}"
    );
}

#[test]
fn every_area_of_the_core_is_on_the_page() {
    let text = doc();
    let mut unnamed = Vec::new();
    for entry in std::fs::read_dir("src/core").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "mod.rs" || name == "time.rs" || name == "idle_release.rs" {
            continue;
        }
        let shown = if path.is_dir() {
            format!("`src/core/{name}/`")
        } else {
            format!("`src/core/{name}`")
        };
        if !text.contains(&shown) {
            unnamed.push(shown);
        }
    }
    assert!(unnamed.is_empty(), "{DOC} does not describe {unnamed:?}");
}

#[test]
fn the_core_imports_neither_tauri_nor_axum() {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, line) in text.lines().enumerate() {
                    let code = line.trim_start();
                    if code.starts_with("//") {
                        continue;
                    }
                    if code.contains("tauri::") || code.contains("axum::") {
                        found.push(format!("{}:{}", path.display(), i + 1));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("src/core"), &mut found);
    assert!(
        found.is_empty(),
        "the core imports a door's framework: {found:?}"
    );
}

#[test]
fn sql_is_written_only_in_the_store() {
    const SQL: &[&str] = &[
        "\"SELECT ",
        "\"INSERT ",
        "\"UPDATE ",
        "\"DELETE FROM",
        "\"WITH ",
        "execute_batch(",
        ".prepare(",
        ".prepare_cached(",
        ".query_row(",
    ];
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("src/core/store") {
                    walk(&path, found);
                }
                continue;
            }
            // A module of unit tests (they may build a failing disk or a minimal table).
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                // The file's unit tests, at its end.
                let next = lines.get(i + 1).map_or("", |l| l.trim_start());
                if line.trim_start().starts_with("#[cfg(test)]") && next.starts_with("mod tests {")
                {
                    break;
                }
                if SQL.iter().any(|s| line.contains(s)) {
                    found.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("src"), &mut found);
    assert!(found.is_empty(), "SQL outside src/core/store: {found:#?}");
}
