//! Writing: spreadsheet-safe CSV, atomic replacement, and reading couplings back.

use std::path::{Path, PathBuf};

use coupler_files::{read_couplings, write_atomically, FilesError, SafeCsvWriter};

fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Names of the files in `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn formula_prefixes_are_guarded_except_in_raw_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/nested/results.csv");
    let mut w = SafeCsvWriter::new(&path, &["id", "value", "note"], &[true, false, false]).unwrap();
    w.write_row(["-1", "=SUM(A1:A2)", "+49 30 123"]).unwrap();
    w.write_row(["=raw", "-5", "@user"]).unwrap();
    w.write_row(["x", "\tindent", "\rcr"]).unwrap();
    w.write_row(["y", "a=b", "plain-text"]).unwrap();
    w.write_row(vec![
        String::from("z"),
        String::new(),
        "'quoted".to_string(),
    ])
    .unwrap();
    w.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "id,value,note\n\
         -1,'=SUM(A1:A2),'+49 30 123\n\
         =raw,'-5,'@user\n\
         x,'\tindent,\"'\rcr\"\n\
         y,a=b,plain-text\n\
         z,,'quoted\n"
    );
    assert_eq!(listing(path.parent().unwrap()), vec!["results.csv"]);
}

#[test]
fn standard_quoting_utf8_without_bom_and_lf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.csv");
    let mut w = SafeCsvWriter::new(&path, &["a", "b"], &[true, true]).unwrap();
    // Rows as the CLI would hold them: slices of &str.
    let rows: Vec<Vec<&str>> = vec![
        vec!["Smith, John", "He said \"hi\""],
        vec!["line1\nline2", "Zoë"],
    ];
    for row in &rows {
        let fields: &[&str] = row;
        w.write_row(fields).unwrap();
    }
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(!bytes.starts_with(b"\xEF\xBB\xBF"));
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "a,b\n\"Smith, John\",\"He said \"\"hi\"\"\"\n\"line1\nline2\",Zoë\n"
    );
    // And it reads back with the csv crate to the same values.
    let mut r = csv::Reader::from_path(&path).unwrap();
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(&recs[0][1], "He said \"hi\"");
    assert_eq!(&recs[1][0], "line1\nline2");
}

#[test]
fn wrong_width_row_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.csv");
    let mut w = SafeCsvWriter::new(&path, &["a", "b"], &[]).unwrap();
    let err = w.write_row(["only"]).unwrap_err();
    assert!(matches!(err, FilesError::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("w.csv"), "{err}");
    drop(w);
    assert!(!path.exists());
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn unfinished_writer_leaves_the_old_file_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "results.csv", b"old contents\n");
    {
        let mut w = SafeCsvWriter::new(&path, &["a"], &[false]).unwrap();
        for i in 0..100_000 {
            w.write_row([i.to_string()]).unwrap();
        }
        // dropped without finish (an error path)
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"old contents\n");
    assert_eq!(listing(dir.path()), vec!["results.csv"]);

    let mut w = SafeCsvWriter::new(&path, &["a"], &[false]).unwrap();
    w.write_row(["new"]).unwrap();
    w.finish().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nnew\n");
    assert_eq!(listing(dir.path()), vec!["results.csv"]);
}

#[test]
fn write_atomically_replaces_and_creates_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/job.json");
    write_atomically(&path, b"{\"v\":1}").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"v\":1}");
    write_atomically(&path, b"{\"v\":2}").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"v\":2}");
    assert_eq!(listing(path.parent().unwrap()), vec!["job.json"]);

    // Writing over a directory fails and leaves the directory alone.
    let err = write_atomically(&dir.path().join("a"), b"x").unwrap_err();
    assert!(matches!(err, FilesError::Io { .. }), "{err:?}");
    assert!(dir.path().join("a/b/job.json").exists());
    assert_eq!(listing(dir.path()), vec!["a"]);
}

#[test]
fn couplings_are_read_with_lines_and_blank_rows_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        dir.path(),
        "couplings.csv",
        b"\xEF\xBB\xBFnote;integration_id;local_id\r\n\
          x;G-1;L-1\r\n\
          ;;\r\n\
          y; G-2 ;L-2\r\n\
          \"multi\nline\";G-3;L-3\r\n\
          z;G-4;L-4",
    );
    assert_eq!(
        read_couplings(&path).unwrap(),
        vec![
            ("L-1".to_string(), "G-1".to_string(), 2),
            ("L-2".to_string(), " G-2 ".to_string(), 4),
            ("L-3".to_string(), "G-3".to_string(), 5),
            ("L-4".to_string(), "G-4".to_string(), 7),
        ]
    );
}

#[test]
fn couplings_errors() {
    let dir = tempfile::tempdir().unwrap();
    let half = file(
        dir.path(),
        "half.csv",
        b"local_id,integration_id\nL1,G1\nL2,  \n",
    );
    let err = read_couplings(&half).unwrap_err();
    assert_eq!(err.line(), Some(3));
    let msg = err.to_string();
    assert!(msg.contains("half.csv"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("'integration_id' is blank"), "{msg}");

    let half = file(dir.path(), "half2.csv", b"local_id,integration_id\n,G1\n");
    let err = read_couplings(&half).unwrap_err();
    assert!(
        err.to_string()
            .contains("'local_id' is blank but 'integration_id' is 'G1'"),
        "{err}"
    );

    let missing = file(dir.path(), "m.csv", b"Local_ID,crmid\nL1,G1\n");
    let msg = read_couplings(&missing).unwrap_err().to_string();
    assert!(
        msg.ends_with(
            "m.csv: column 'local_id' not found; did you mean 'Local_ID'? the columns are: Local_ID, crmid"
        ),
        "{msg}"
    );

    let empty = file(dir.path(), "e.csv", b"");
    assert!(matches!(
        read_couplings(&empty).unwrap_err(),
        FilesError::Empty { .. }
    ));

    let bad = file(dir.path(), "u.csv", b"local_id|integration_id\nL\xFC|G\n");
    let err = read_couplings(&bad).unwrap_err();
    assert!(
        matches!(err, FilesError::InvalidUtf8 { line: 2, .. }),
        "{err:?}"
    );
}
