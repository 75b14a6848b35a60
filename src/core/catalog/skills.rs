//! Skills (see docs/upstream.md#catalogues-workspaces-and-memory): markdown files that start with
//! YAML front matter (`name, version, author, category, description, requires_tools, requires_role,
//! budget_max, dangerous, enabled, metadata`) and whose body is a system prompt. A small set ships
//! with the crate; the user's own live in `<data dir>/skills/` (added, replaced and removed through
//! IPC and HTTP), one file per version, so every version is kept. A file that does not read is
//! reported with its name and the field at fault, and left out; the others still load.
//!
//! `skill` on a submission applies the newest enabled version (or `skill_version`): its content
//! becomes the system prompt (`${var}` from `prompt_params`), its role and budget the task's, and,
//! unlike the cloud where it is informational, `requires_tools` is the task's tool allow list.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};

/// The skills that ship with the crate.
const BUILTIN: &[(&str, &str)] = &[
    ("code-review.md", include_str!("skills/code-review.md")),
    ("debugging.md", include_str!("skills/debugging.md")),
    ("math-tutor.md", include_str!("skills/math-tutor.md")),
    (
        "research-brief.md",
        include_str!("skills/research-brief.md"),
    ),
];
const MAX_SKILL_BYTES: usize = 256 * 1024;

/// One skill version, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Skill {
    pub name: String,
    pub version: String,
    pub author: Option<String>,
    pub category: String,
    pub description: String,
    pub requires_tools: Vec<String>,
    pub requires_role: Option<String>,
    pub budget_max: Option<u64>,
    pub dangerous: bool,
    pub enabled: bool,
    pub metadata: Map<String, Value>,
    /// The markdown body: the system prompt.
    pub content: String,
}

/// A skill in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SkillSummary {
    pub name: String,
    pub version: String,
    pub category: String,
    pub description: String,
    pub requires_tools: Vec<String>,
    pub dangerous: bool,
    pub enabled: bool,
}

/// Where a skill version comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SkillSource {
    /// `builtin:<file>` or the file's path under the data dir.
    pub source_path: String,
    pub content_hash: String,
    pub loaded_at: String,
    pub builtin: bool,
}

/// A file that could not be read as a skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SkillFileError {
    pub file: String,
    pub error: String,
}

/// `GET /api/v1/skills`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SkillList {
    pub skills: Vec<SkillSummary>,
    pub count: usize,
    pub categories: Vec<String>,
    /// Files left out because they do not read (beyond the cloud's shape).
    pub errors: Vec<SkillFileError>,
}

/// `GET /api/v1/skills/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SkillDetail {
    pub skill: Skill,
    pub metadata: SkillSource,
}

/// `GET /api/v1/skills/{name}/versions`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SkillVersions {
    pub name: String,
    pub versions: Vec<SkillSummary>,
    pub count: usize,
}

/// The front matter as written; absent fields take the cloud's defaults.
#[derive(Deserialize)]
struct FrontMatter {
    name: String,
    #[serde(default = "default_version")]
    version: String,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    requires_tools: Vec<String>,
    #[serde(default)]
    requires_role: Option<String>,
    #[serde(default)]
    budget_max: Option<u64>,
    #[serde(default)]
    dangerous: bool,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    metadata: Map<String, Value>,
}

fn default_version() -> String {
    "1.0.0".into()
}

fn yes() -> bool {
    true
}

/// Reads a skill file; errors name `file` and, where serde says so, the field.
/// Whether a skill file marks itself dangerous (the IPC door saves those only behind an opt-in).
pub fn is_dangerous(markdown: &str) -> Result<bool> {
    Ok(parse("(submitted)", markdown)?.dangerous)
}

pub fn parse(file: &str, text: &str) -> Result<Skill> {
    let bad = |why: String| ShannonError::invalid(format!("skill file {file}: {why}"));
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    let rest = text
        .strip_prefix("---\n")
        .ok_or_else(|| bad("must start with a '---' line opening the YAML front matter".into()))?;
    let (yaml, body) = match rest.find("\n---") {
        Some(end) => {
            let after = &rest[end + 4..];
            (&rest[..end], after.strip_prefix('\n').unwrap_or(after))
        }
        None => return Err(bad("the front matter has no closing '---' line".into())),
    };
    let front: FrontMatter =
        serde_yaml_ng::from_str(yaml).map_err(|e| bad(format!("front matter: {e}")))?;
    let name_ok = !front.name.is_empty()
        && front.name.len() <= 64
        && front
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(bad(format!(
            "name: {:?} must be 1 to 64 characters of a-z A-Z 0-9 - _",
            front.name
        )));
    }
    let version_ok = !front.version.is_empty()
        && front.version.len() <= 32
        && front
            .version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c));
    if !version_ok {
        return Err(bad(format!(
            "version: {:?} is not a version such as 1.2.0",
            front.version
        )));
    }
    if let Some(tool) = front.requires_tools.iter().find(|t| t.trim().is_empty()) {
        return Err(bad(format!("requires_tools: {tool:?} is not a tool name")));
    }
    let content = body.trim().to_string();
    if content.is_empty() {
        return Err(bad(
            "the body after the front matter (the skill's prompt) is empty".into(),
        ));
    }
    Ok(Skill {
        name: front.name,
        version: front.version,
        author: front.author,
        category: front.category.unwrap_or_else(|| "general".into()),
        description: front.description.unwrap_or_default(),
        requires_tools: front.requires_tools,
        requires_role: front.requires_role.filter(|r| !r.trim().is_empty()),
        budget_max: front.budget_max,
        dangerous: front.dangerous,
        enabled: front.enabled,
        metadata: front.metadata,
        content,
    })
}

impl Skill {
    pub fn summary(&self) -> SkillSummary {
        SkillSummary {
            name: self.name.clone(),
            version: self.version.clone(),
            category: self.category.clone(),
            description: self.description.clone(),
            requires_tools: self.requires_tools.clone(),
            dangerous: self.dangerous,
            enabled: self.enabled,
        }
    }
}

/// Newer first: semantic versions compared as such, anything else as text.
fn newer_first(a: &str, b: &str) -> Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(x), Ok(y)) => y.cmp(&x),
        _ => b.cmp(a),
    }
}

/// Every skill version that reads (a user file replaces a built-in of the same name and version),
/// and the files that do not.
fn load(dir: &Path) -> (Vec<(Skill, SkillSource)>, Vec<SkillFileError>) {
    let now = crate::core::time::now();
    let source = |path: String, text: &str, builtin| SkillSource {
        source_path: path,
        content_hash: hex::encode(Sha256::digest(text.as_bytes())),
        loaded_at: now.clone(),
        builtin,
    };
    let mut skills: Vec<(Skill, SkillSource)> = BUILTIN
        .iter()
        .filter_map(|(file, text)| {
            let skill = parse(file, text).ok()?;
            Some((skill, source(format!("builtin:{file}"), text, true)))
        })
        .collect();
    let mut errors = Vec::new();
    for path in markdown_files(dir) {
        let label = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let read = std::fs::read_to_string(&path)
            .map_err(|e| ShannonError::invalid(format!("skill file {label}: {e}")))
            .and_then(|text| parse(&label, &text).map(|s| (s, text)));
        match read {
            Ok((skill, text)) => {
                skills.retain(|(s, _)| !(s.name == skill.name && s.version == skill.version));
                let src = source(path.display().to_string(), &text, false);
                skills.push((skill, src));
            }
            Err(e) => errors.push(SkillFileError {
                file: label,
                error: e.to_string(),
            }),
        }
    }
    skills.sort_by(|(a, _), (b, _)| {
        a.name
            .cmp(&b.name)
            .then_with(|| newer_first(&a.version, &b.version))
    });
    (skills, errors)
}

/// `*.md` under `dir`, recursively, `README.md` aside, in a stable order.
fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file()
                && path.extension().is_some_and(|e| e == "md")
                && path.file_name().is_some_and(|n| n != "README.md")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

impl Core {
    /// The user skills folder.
    pub fn skills_dir(&self) -> PathBuf {
        self.data_dir().join("skills")
    }

    /// Every skill's newest version, optionally of one category.
    pub async fn list_skills(&self, _caller: &Caller, category: Option<&str>) -> Result<SkillList> {
        let (skills, errors) = load(&self.skills_dir());
        let mut categories: Vec<String> = skills.iter().map(|(s, _)| s.category.clone()).collect();
        categories.sort();
        categories.dedup();
        let mut latest: Vec<SkillSummary> = Vec::new();
        for (s, _) in &skills {
            if latest.last().is_some_and(|l| l.name == s.name) {
                continue;
            }
            latest.push(s.summary());
        }
        latest.retain(|s| category.is_none_or(|c| s.category.eq_ignore_ascii_case(c)));
        Ok(SkillList {
            count: latest.len(),
            skills: latest,
            categories,
            errors,
        })
    }

    /// One skill: its newest version, or `version`.
    pub async fn get_skill(
        &self,
        _caller: &Caller,
        name: &str,
        version: Option<&str>,
    ) -> Result<SkillDetail> {
        let (skills, _) = load(&self.skills_dir());
        skills
            .into_iter()
            .find(|(s, _)| s.name == name && version.is_none_or(|v| s.version == v))
            .map(|(skill, metadata)| SkillDetail { skill, metadata })
            .ok_or_else(|| match version {
                Some(v) => ShannonError::NotFound(format!("skill {name} version {v}")),
                None => ShannonError::NotFound(format!("skill {name}")),
            })
    }

    /// Every version of a skill, newest first.
    pub async fn skill_versions(&self, _caller: &Caller, name: &str) -> Result<SkillVersions> {
        let (skills, _) = load(&self.skills_dir());
        let versions: Vec<SkillSummary> = skills
            .iter()
            .filter(|(s, _)| s.name == name)
            .map(|(s, _)| s.summary())
            .collect();
        if versions.is_empty() {
            return Err(ShannonError::NotFound(format!("skill {name}")));
        }
        Ok(SkillVersions {
            name: name.to_string(),
            count: versions.len(),
            versions,
        })
    }

    /// Adds a skill version from its markdown, or replaces the same version of a user skill.
    pub async fn save_skill(&self, caller: &Caller, markdown: &str) -> Result<SkillDetail> {
        if markdown.len() > MAX_SKILL_BYTES {
            return Err(ShannonError::PayloadTooLarge(
                "a skill file is at most 256 KiB".into(),
            ));
        }
        let skill = parse("(submitted)", markdown)?;
        let dir = self.skills_dir();
        std::fs::create_dir_all(&dir).map_err(|e| ShannonError::Io(e.to_string()))?;
        // name and version are checked to be path-safe by `parse`.
        let path = dir.join(format!("{}@{}.md", skill.name, skill.version));
        let tmp = path.with_extension("md.tmp");
        std::fs::write(&tmp, markdown)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| ShannonError::Io(format!("cannot write the skill file: {e}")))?;
        tracing::info!(skill = %skill.name, version = %skill.version, "saved a skill");
        self.get_skill(caller, &skill.name, Some(&skill.version))
            .await
    }

    /// Removes a user skill's files (one version, or all); built-in skills cannot be removed.
    pub async fn delete_skill(
        &self,
        _caller: &Caller,
        name: &str,
        version: Option<&str>,
    ) -> Result<()> {
        let (skills, _) = load(&self.skills_dir());
        let matching: Vec<&(Skill, SkillSource)> = skills
            .iter()
            .filter(|(s, _)| s.name == name && version.is_none_or(|v| s.version == v))
            .collect();
        if matching.is_empty() {
            return Err(ShannonError::NotFound(format!("skill {name}")));
        }
        let user: Vec<&SkillSource> = matching
            .iter()
            .map(|(_, src)| src)
            .filter(|src| !src.builtin)
            .collect();
        if user.is_empty() {
            return Err(ShannonError::Conflict(format!(
                "skill {name} is built in; save a version with `enabled: false` to turn it off"
            )));
        }
        for src in user {
            std::fs::remove_file(&src.source_path)
                .map_err(|e| ShannonError::Io(format!("cannot remove the skill file: {e}")))?;
        }
        Ok(())
    }

    /// The skill a submission names, for [`apply`]: refused when unknown, disabled, or dangerous
    /// without the user's leave (setting `skills.allow_dangerous`).
    pub(crate) async fn skill_for_task(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
    ) -> Result<Skill> {
        let skill = match self.get_skill(caller, name, version).await {
            Ok(d) => d.skill,
            Err(ShannonError::NotFound(_)) => {
                return Err(ShannonError::invalid(format!("unknown skill: {name}")));
            }
            Err(e) => return Err(e),
        };
        if !skill.enabled {
            return Err(ShannonError::invalid(format!("skill {name} is disabled")));
        }
        if skill.dangerous {
            let allowed = self
                .get_setting(caller, "skills.allow_dangerous")
                .await
                .is_ok_and(|s| s.value.trim() == "true");
            if !allowed {
                return Err(ShannonError::PermissionDenied(format!(
                    "skill {name} is marked dangerous; allow dangerous skills in the settings (skills.allow_dangerous) to use it"
                )));
            }
        }
        Ok(skill)
    }
}

/// A skill's effect on a submission's context: the prompt, the role, the budget, the tools (only
/// those it requires, within any list the submission gave), and which skill it was.
pub(crate) fn apply(skill: &Skill, context: &mut Map<String, Value>) {
    context
        .entry("system_prompt")
        .or_insert_with(|| Value::String(skill.content.clone()));
    if let Some(role) = &skill.requires_role {
        context
            .entry("role")
            .or_insert_with(|| Value::String(role.clone()));
    }
    if let Some(budget) = skill.budget_max {
        context.entry("budget_max").or_insert(budget.into());
    }
    if !skill.requires_tools.is_empty() {
        let asked: Option<Vec<String>> = context
            .get("tools_to_use")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let tools: Vec<String> = match asked {
            Some(asked) => skill
                .requires_tools
                .iter()
                .filter(|t| asked.contains(t))
                .cloned()
                .collect(),
            None => skill.requires_tools.clone(),
        };
        context.insert("tools_to_use".into(), tools.into());
    }
    context.insert("skill".into(), Value::String(skill.name.clone()));
    context.insert("skill_version".into(), Value::String(skill.version.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_skills_read() {
        for (file, text) in BUILTIN {
            parse(file, text).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn broken_files_name_the_file_and_the_field() {
        let e = parse("mine.md", "no front matter").unwrap_err().to_string();
        assert!(e.contains("mine.md") && e.contains("---"), "{e}");
        let e = parse(
            "mine.md",
            "---\nname: x\nrequires_tools: calculator\n---\nbody",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mine.md") && e.contains("requires_tools"), "{e}");
        let e = parse("mine.md", "---\nversion: 1.0.0\n---\nbody")
            .unwrap_err()
            .to_string();
        assert!(e.contains("name"), "{e}");
        let e = parse("mine.md", "---\nname: ../evil\n---\nbody")
            .unwrap_err()
            .to_string();
        assert!(e.contains("name:"), "{e}");
        let e = parse("mine.md", "---\nname: ok\n---\n  \n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");
        let s = parse("ok.md", "---\r\nname: ok\r\n---\r\nHello ${who}\r\n").unwrap();
        assert_eq!(
            (s.version.as_str(), s.enabled, s.content.as_str()),
            ("1.0.0", true, "Hello ${who}")
        );
    }

    #[test]
    fn versions_sort_newest_first() {
        let mut v = vec!["1.2.0", "1.10.0", "1.9.1"];
        v.sort_by(|a, b| newer_first(a, b));
        assert_eq!(v, ["1.10.0", "1.9.1", "1.2.0"]);
    }

    #[test]
    fn a_skill_narrows_the_tools_and_keeps_what_the_task_set() {
        let skill = parse("s.md", "---\nname: s\nrequires_tools: [calculator, clock]\nrequires_role: critic\nbudget_max: 100\n---\nBe brief.").unwrap();
        let mut ctx = Map::new();
        ctx.insert(
            "tools_to_use".into(),
            serde_json::json!(["calculator", "web_fetch"]),
        );
        ctx.insert("role".into(), "writer".into());
        apply(&skill, &mut ctx);
        assert_eq!(ctx["tools_to_use"], serde_json::json!(["calculator"]));
        assert_eq!(ctx["role"], "writer");
        assert_eq!(ctx["system_prompt"], "Be brief.");
        assert_eq!(
            (ctx["budget_max"].as_u64(), ctx["skill"].as_str()),
            (Some(100), Some("s"))
        );
    }
}
