//! The real tools that read the files obs ships in `deploy/`: promtool and amtool (Debian
//! packages `prometheus` and `prometheus-alertmanager`), Compose's own parser (Debian
//! package `docker-compose`) and the Compose Specification's schema (`check-jsonschema`),
//! hadolint, BuildKit's Dockerfile parser (PyPI `dockerfile`) and PyYAML. `scripts/test`
//! installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A path under `deploy/`.
pub fn deploy(path: &str) -> PathBuf {
    workspace_root().join("deploy").join(path)
}

/// What a tool printed, and whether it succeeded.
#[derive(Debug)]
pub struct ToolOutput {
    /// It exited with status 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl ToolOutput {
    /// Both outputs, for failure messages.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `program` with `args` in the workspace root.
pub fn run(program: &str, args: &[&str]) -> ToolOutput {
    let output = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("run {program} ({e}); scripts/test installs it"));
    ToolOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a Python snippet with `args`; its standard output parsed as JSON.
fn python_json(script: &str, args: &[&str]) -> Value {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    let output = run("python3", &all);
    assert!(output.success, "python3 failed: {}", output.text());
    serde_json::from_str(&output.stdout).unwrap()
}

/// The YAML file at `path`, read by PyYAML (`yaml.safe_load`), as JSON.
pub fn yaml(path: &Path) -> Value {
    python_json(
        "import json, sys, yaml\nwith open(sys.argv[1]) as f:\n    json.dump(yaml.safe_load(f), sys.stdout, default=str)",
        &[path.to_str().unwrap()],
    )
}

/// The instructions of the Dockerfile at `path`, read by BuildKit's parser (PyPI
/// `dockerfile`): `{"cmd", "value": [...], "flags": [...]}` each.
pub fn dockerfile(path: &Path) -> Vec<Value> {
    let value = python_json(
        "import dockerfile, json, sys\njson.dump([{'cmd': c.cmd, 'value': list(c.value), 'flags': list(c.flags)} for c in dockerfile.parse_file(sys.argv[1])], sys.stdout)",
        &[path.to_str().unwrap()],
    );
    value.as_array().unwrap().clone()
}

/// Whether the regular expression `pattern` (Python's `re`, the syntax of Grafana's
/// derived fields for these patterns) finds a match in `text`; the first group if so.
pub fn regex_group(pattern: &str, text: &str) -> Option<String> {
    let value = python_json(
        "import json, re, sys\nm = re.search(sys.argv[1], sys.argv[2])\njson.dump(m.group(1) if m else None, sys.stdout)",
        &[pattern, text],
    );
    value.as_str().map(str::to_owned)
}
