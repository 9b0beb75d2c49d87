//! The [`PythonIndex`] contract, as one suite every metadata adapter runs.

use std::sync::Arc;
use stowage_core::Digest;
use stowage_core::ports::{AddFile, PythonFile, PythonIndex};
use stowage_core::python::NormalizedName;
use stowage_core::tenancy::{OrgName, RegistryName};

fn file(project: &str, filename: &str, version: &str, filetype: &str, at: i64) -> PythonFile {
    PythonFile {
        project: NormalizedName::parse_normalized(project).unwrap(),
        filename: filename.into(),
        version: version.into(),
        filetype: filetype.into(),
        size: filename.len() as u64,
        digest: Digest::sha256(filename.as_bytes()),
        manifest: Digest::sha256(format!("manifest of {filename}").as_bytes()),
        metadata: (filetype == "bdist_wheel").then(|| {
            (
                Digest::sha256(format!("metadata of {filename}").as_bytes()),
                42,
            )
        }),
        requires_python: Some(">=3.8".into()),
        uploaded_at_ms: at,
        uploaded_by: "user:alice".into(),
        yanked: None,
    }
}

/// Runs every check against an index that starts empty.
pub async fn suite<S: PythonIndex>(store: Arc<S>) {
    let s = &*store;
    let org = OrgName::parse("acme").unwrap();
    let reg = RegistryName::parse("prod").unwrap();
    let other_reg = RegistryName::parse("dev").unwrap();
    let other_org = OrgName::parse("globex").unwrap();
    let pkg = NormalizedName::parse_normalized("my-pkg").unwrap();

    assert!(s.python_projects(&org, &reg).await.unwrap().is_empty());
    assert!(s.python_files(&org, &reg, &pkg).await.unwrap().is_empty());
    assert_eq!(s.python_project(&org, &reg, &pkg).await.unwrap(), None);

    let whl = file(
        "my-pkg",
        "my_pkg-1.0-py3-none-any.whl",
        "1.0",
        "bdist_wheel",
        1000,
    );
    let sdist = file("my-pkg", "my_pkg-1.0.tar.gz", "1.0", "sdist", 2000);
    assert_eq!(
        s.add_python_file(&org, &reg, "My_Pkg", &whl).await.unwrap(),
        AddFile::Added
    );
    assert_eq!(
        s.add_python_file(&org, &reg, "My.Pkg", &sdist)
            .await
            .unwrap(),
        AddFile::Added
    );

    // Adding a name again changes nothing and returns what is stored.
    let mut changed = whl.clone();
    changed.digest = Digest::sha256(b"other bytes");
    assert_eq!(
        s.add_python_file(&org, &reg, "x", &changed).await.unwrap(),
        AddFile::Exists(Box::new(whl.clone()))
    );
    // One sdist per version.
    let sdist2 = file("my-pkg", "My_Pkg-1.0.zip", "1.0", "sdist", 3000);
    assert_eq!(
        s.add_python_file(&org, &reg, "x", &sdist2).await.unwrap(),
        AddFile::SdistExists("my_pkg-1.0.tar.gz".into())
    );

    // Releases compare as PEP 440 does: 1.0.0 is the release 1.0.
    let sdist3 = file("my-pkg", "my_pkg-1.0.0.tar.gz", "1.0.0", "sdist", 3000);
    assert_eq!(
        s.add_python_file(&org, &reg, "x", &sdist3).await.unwrap(),
        AddFile::SdistExists("my_pkg-1.0.tar.gz".into())
    );

    let files = s.python_files(&org, &reg, &pkg).await.unwrap();
    assert_eq!(files, vec![whl.clone(), sdist.clone()], "by filename");
    assert_eq!(
        s.python_file(&org, &reg, &pkg, &whl.filename)
            .await
            .unwrap(),
        Some(whl.clone())
    );
    assert_eq!(
        s.python_file(&org, &reg, &pkg, "nope.whl").await.unwrap(),
        None
    );
    let p = s.python_project(&org, &reg, &pkg).await.unwrap().unwrap();
    assert_eq!(
        (p.files, p.last_upload_ms, p.display_name.as_str()),
        (2, 2000, "My.Pkg")
    );

    // Tenancy is part of every key.
    assert!(
        s.python_files(&org, &other_reg, &pkg)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.python_files(&other_org, &reg, &pkg)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.python_projects(&other_org, &reg)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.add_python_file(&other_org, &reg, "my-pkg", &changed)
            .await
            .unwrap(),
        AddFile::Added,
        "the same filename in another organization is another file"
    );
    assert_eq!(
        s.python_file(&org, &reg, &pkg, &whl.filename)
            .await
            .unwrap(),
        Some(whl.clone())
    );

    // Projects are listed by name.
    let a = file("aaa", "aaa-0.1-py3-none-any.whl", "0.1", "bdist_wheel", 5);
    s.add_python_file(&org, &reg, "AAA", &a).await.unwrap();
    let names: Vec<String> = s
        .python_projects(&org, &reg)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(names, ["aaa", "my-pkg"]);

    // Yank and un-yank.
    assert!(
        s.set_python_yanked(&org, &reg, &pkg, &whl.filename, Some("broken"))
            .await
            .unwrap()
    );
    let y = s
        .python_file(&org, &reg, &pkg, &whl.filename)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(y.yanked.as_deref(), Some("broken"));
    assert!(
        s.set_python_yanked(&org, &reg, &pkg, &whl.filename, Some(""))
            .await
            .unwrap()
    );
    let y = s
        .python_file(&org, &reg, &pkg, &whl.filename)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(y.yanked.as_deref(), Some(""), "yanked without a reason");
    assert!(
        s.set_python_yanked(&org, &reg, &pkg, &whl.filename, None)
            .await
            .unwrap()
    );
    let y = s
        .python_file(&org, &reg, &pkg, &whl.filename)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(y.yanked, None);
    assert!(
        !s.set_python_yanked(&org, &reg, &pkg, "nope.whl", Some("x"))
            .await
            .unwrap()
    );
    assert_eq!(
        s.python_file(&other_org, &reg, &pkg, &whl.filename)
            .await
            .unwrap()
            .unwrap()
            .yanked,
        None
    );

    // Delete: the project goes with its last file.
    assert!(
        s.delete_python_file(&org, &reg, &pkg, &whl.filename)
            .await
            .unwrap()
    );
    assert!(
        !s.delete_python_file(&org, &reg, &pkg, &whl.filename)
            .await
            .unwrap()
    );
    assert_eq!(
        s.python_project(&org, &reg, &pkg)
            .await
            .unwrap()
            .unwrap()
            .files,
        1
    );
    assert!(
        s.delete_python_file(&org, &reg, &pkg, &sdist.filename)
            .await
            .unwrap()
    );
    assert_eq!(s.python_project(&org, &reg, &pkg).await.unwrap(), None);
    assert!(s.python_files(&org, &reg, &pkg).await.unwrap().is_empty());
    // And a deleted file's name may be added again.
    assert_eq!(
        s.add_python_file(&org, &reg, "my-pkg", &whl).await.unwrap(),
        AddFile::Added
    );
    assert!(
        s.python_file(&other_org, &reg, &pkg, &whl.filename)
            .await
            .unwrap()
            .is_some()
    );
}
