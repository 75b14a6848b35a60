//! `read_app_notes`: the app's own tool for its agents. The user keeps plain-text notes (`.md`,
//! `.txt`) in `notes/` under the app's data dir (on Linux `~/.local/share/dev.shannon.example-app/notes`);
//! an agent lists them, or reads one by its file name. Only file names directly in that folder are
//! accepted (no paths, no links out), and a note is read up to 64 KiB.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_shannon::{AppTool, AppToolResult};

const MAX_BYTES: u64 = 64 * 1024;
const MAX_LISTED: usize = 200;

pub fn tool() -> AppTool<AppHandle<Wry>> {
    AppTool::new(
        "read_app_notes",
        "Lists the user's notes in this app, or reads one of them by its file name.",
        |args: Value, app: AppHandle<Wry>| async move {
            let dir = app
                .path()
                .app_data_dir()
                .map_err(|e| e.to_string())?
                .join("notes");
            let name = args["name"].as_str().map(str::to_string);
            // File access off the async threads.
            tauri::async_runtime::spawn_blocking(move || match name {
                Some(name) => read(&dir, &name),
                None => list(&dir),
            })
            .await
            .map_err(|e| e.to_string())?
        },
    )
    .parameters(json!({
        "type": "object",
        "properties": {"name": {"type": "string",
            "description": "A note's file name, e.g. \"groceries.md\"; omit it to list the notes"}}
    }))
}

fn is_note(name: &str) -> bool {
    name.ends_with(".md") || name.ends_with(".txt")
}

fn list(dir: &Path) -> AppToolResult {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(json!({"notes": [], "folder": dir}));
        }
        Err(e) => return Err(format!("cannot list the notes: {e}")),
    };
    let mut notes: Vec<Value> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok().filter(|n| is_note(n))?;
            let bytes = e.metadata().ok()?.len();
            Some(json!({"name": name, "bytes": bytes}))
        })
        .take(MAX_LISTED)
        .collect();
    notes.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(json!({"notes": notes}))
}

fn read(dir: &Path, name: &str) -> AppToolResult {
    let plain = !name.contains(['/', '\\']) && !name.starts_with('.') && is_note(name);
    if !plain {
        return Err(format!(
            "{name:?} is not a note's file name (a .md or .txt file in the notes folder)"
        ));
    }
    let path: PathBuf = dir.join(name);
    // symlink_metadata: a link is refused rather than followed out of the folder.
    let meta = std::fs::symlink_metadata(&path).map_err(|_| format!("no note named {name:?}"))?;
    if !meta.is_file() {
        return Err(format!("no note named {name:?}"));
    }
    if meta.len() > MAX_BYTES {
        return Err(format!("{name} is larger than {} KiB", MAX_BYTES / 1024));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {name}: {e}"))?;
    Ok(text.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_reads_notes_in_the_folder_only() {
        let dir = std::env::temp_dir().join(format!("shannon-notes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("groceries.md"), "eggs").unwrap();
        std::fs::write(dir.join("big.txt"), "x".repeat(MAX_BYTES as usize + 1)).unwrap();
        std::fs::write(dir.join("script.sh"), "no").unwrap();
        let listed = list(&dir).unwrap();
        assert_eq!(listed["notes"][0]["name"], "big.txt");
        assert_eq!(listed["notes"][1]["name"], "groceries.md");
        assert_eq!(listed["notes"].as_array().unwrap().len(), 2);
        assert_eq!(read(&dir, "groceries.md").unwrap(), "eggs");
        for refused in [
            "../groceries.md",
            "script.sh",
            ".hidden.md",
            "big.txt",
            "none.md",
        ] {
            assert!(read(&dir, refused).is_err(), "{refused}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/hostname", dir.join("link.txt")).unwrap();
            assert!(read(&dir, "link.txt").is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(list(&dir).unwrap()["notes"], json!([]));
    }
}
