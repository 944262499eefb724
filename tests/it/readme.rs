//! The README stays true to the code: its layout names every source file, so a split or a new
//! module cannot leave the map behind.

use std::path::Path;

/// Every `.rs` file under `src/`, as `dir/file.rs` relative to `src/`.
fn sources(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "snapshots") {
                continue;
            }
            sources(&path, base, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(
                path.strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

#[test]
fn the_layout_names_every_source_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let layout = &readme[readme.find("## Layout").unwrap()..];
    let layout = &layout[..layout[3..].find("\n## ").map_or(layout.len(), |i| i + 3)];
    let mut files = Vec::new();
    sources(&root.join("src"), &root.join("src"), &mut files);
    files.sort();
    let mut unnamed = Vec::new();
    for f in &files {
        let name = f.rsplit('/').next().unwrap();
        let (dir, _) = f.rsplit_once('/').unwrap_or(("", f));
        // A top-level file by its path; a module's file by its name, in its directory's entry
        // (or in a parent's, for nested directories such as probe/analyze/).
        let named = if dir.is_empty() {
            layout.contains(&format!("src/{f}"))
        } else {
            let top = dir.split('/').next().unwrap();
            let entry = layout
                .find(&format!("src/{top}/"))
                .or_else(|| layout.find(&format!("src/{top}.rs")))
                .map(|at| {
                    let rest = &layout[at..];
                    let end = rest[4..].find("\nsrc/").map_or(rest.len(), |i| i + 4);
                    &rest[..end]
                });
            let stem = name.trim_end_matches(".rs");
            entry.is_some_and(|e| {
                name == "mod.rs" && e.contains("mod.rs")
                    || e.contains(name)
                    || (dir == "cmd" && e.contains(stem))
            })
        };
        if !named {
            unnamed.push(f.clone());
        }
    }
    assert!(
        unnamed.is_empty(),
        "the README's layout does not name: {unnamed:?}"
    );
}
