//! What a job leaves on disk: its output folder (`<out>/<mapping>/`, named by
//! [`folder_name`], written aside and swapped in whole), the rendering of `results.csv` and
//! `couplings.csv` on all cores, `collation-diff.csv`, and HTML reports.

use std::path::Path;

use anyhow::{Context, Result};
use coupler_engine::report::{IdBatch, Renderer, ResultRow, RESULTS_DETAIL_HEADER, RESULTS_HEADER};
use coupler_engine::{
    couple as run_coupling, Collation, CouplingSpec, ExistingCouplings, Outcome, RunOptions, Table,
    FAILURE_NAMES,
};
use coupler_files::{write_atomically, RowEncoder, SafeCsvWriter};
use rayon::prelude::*;

use crate::job::{collation_name, CollationDiff};
use crate::report_html::SAMPLES_PER_KIND;

/// Writes an HTML report atomically (its folder is created if needed) and says where on stderr.
pub(crate) fn write_report(path: &Path, html: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    write_atomically(path, html.as_bytes())?;
    eprintln!("coupler: report written to {}", path.display());
    Ok(())
}

/// The process's peak resident set so far, in MB (Linux `VmHWM`), if known.
pub fn peak_memory_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Runs the mapping again under the other collation (exact ↔ Dataverse's; Dataverse's is
/// accent-insensitive unless configured otherwise) and writes the records whose outcome or
/// coupled id differs to `collation-diff.csv`.
pub fn compare_collations(
    renderer: &Renderer<'_, '_>,
    local: &Table,
    integration: &Table,
    existing: &ExistingCouplings,
    dir: &Path,
) -> Result<CollationDiff> {
    let run = renderer.run();
    let configured = run.spec().collation;
    let other = match configured {
        Collation::Exact => Collation::Dataverse {
            accent_sensitive: false,
        },
        Collation::Dataverse { .. } => Collation::Exact,
    };
    let spec = CouplingSpec {
        collation: other,
        ..run.spec().clone()
    };
    let other_run = run_coupling(&spec, local, integration, existing, RunOptions::default())?;
    let other_renderer = Renderer::new(&other_run);
    let path = dir.join("collation-diff.csv");
    let (a, b) = (collation_name(configured), collation_name(other));
    let mut out = SafeCsvWriter::new(
        &path,
        &[
            "local_id",
            "outcome",
            "integration_id",
            "trace",
            "other_outcome",
            "other_integration_id",
            "other_trace",
        ],
        &[true, false, true, false, false, true, false],
    )?;
    let (mut mine, mut theirs) = (ResultRow::default(), ResultRow::default());
    let mut records = 0;
    for i in 0..run.outcomes().len() {
        let x = renderer.render(i, &mut mine);
        let y = other_renderer.render(i, &mut theirs);
        // Same outcome, same coupled id, same candidates: no difference worth listing.
        if x[1] == y[1] && x[2] == y[2] && x[5] == y[5] {
            continue;
        }
        records += 1;
        out.write_row([x[0], x[1], x[2], x[7], y[1], y[2], y[7]])?;
    }
    out.finish()?;
    Ok(CollationDiff {
        configured: a.to_string(),
        compared_with: b.to_string(),
        records,
        file: path.display().to_string(),
    })
}

/// One block of records, rendered and encoded.
struct EncodedBlock {
    /// Its `results.csv` and `couplings.csv` rows.
    results: Vec<u8>,
    couplings: Vec<u8>,
    /// Its first rows of each failure kind (index into [`FAILURE_NAMES`]), when sampling.
    samples: Vec<(usize, Vec<String>)>,
    /// `(coupled, score)` of its records with a fuzzy score.
    scores: Vec<(bool, f64)>,
}

/// Rows per rendering block; a wave is two blocks per thread.
const BLOCK: usize = 16 * 1024;

/// Renders `results.csv` and `couplings.csv` rows on all threads, a wave of blocks at a time,
/// and appends the blocks in processing order (memory stays bounded by two waves): a writer
/// thread writes one wave's bytes while the next wave is rendered.
///
/// With `samples`, the first [`SAMPLES_PER_KIND`] rows of each failure kind (in file order)
/// are kept as they are rendered: each block keeps at most that many of each kind, and the
/// blocks are merged in order.
///
/// Returns `(coupled, score)` of every record rendered with a fuzzy score.
pub fn write_rows(
    renderer: &Renderer<'_, '_>,
    results: &mut SafeCsvWriter,
    couplings: &mut SafeCsvWriter,
    samples: Option<&mut Vec<Vec<String>>>,
) -> Result<Vec<(bool, f64)>> {
    let encoders = (results.row_encoder(), couplings.row_encoder());
    std::thread::scope(|scope| {
        // A rendezvous: the renderer hands a wave over when the writer has written the last.
        let (to_writer, from_renderer) =
            std::sync::mpsc::sync_channel::<Vec<(Vec<u8>, Vec<u8>)>>(0);
        let writer = scope.spawn(move || -> Result<()> {
            for wave in from_renderer {
                for (r, c) in wave {
                    results.write_encoded(&r)?;
                    couplings.write_encoded(&c)?;
                }
            }
            Ok(())
        });
        let rendering = render_waves(renderer, &encoders, samples, &to_writer);
        drop(to_writer);
        let writing = writer.join().expect("the CSV writer thread does not panic");
        // A write error explains a stopped rendering; otherwise the rendering's own result.
        writing.and(rendering)
    })
}

/// Renders the rows wave by wave and hands each wave's encoded blocks to the writer; keeps the
/// samples; returns the fuzzy scores. Stops early when the writer has stopped (on an error).
fn render_waves(
    renderer: &Renderer<'_, '_>,
    encoders: &(RowEncoder, RowEncoder),
    mut samples: Option<&mut Vec<Vec<String>>>,
    to_writer: &std::sync::mpsc::SyncSender<Vec<(Vec<u8>, Vec<u8>)>>,
) -> Result<Vec<(bool, f64)>> {
    let mut scored = Vec::new();
    let sampling = samples.is_some();
    let mut taken = [0usize; FAILURE_NAMES.len()];
    let n = renderer.run().outcomes().len();
    let wave = BLOCK * 2 * rayon::current_num_threads();
    for wave_start in (0..n).step_by(wave) {
        let blocks: Vec<(usize, usize)> = (wave_start..n.min(wave_start + wave))
            .step_by(BLOCK)
            .map(|start| (start, n.min(start + BLOCK)))
            .collect();
        let encoded: Vec<std::result::Result<EncodedBlock, String>> = blocks
            .par_iter()
            .map(|&(start, end)| render_block(renderer, encoders, start..end, sampling))
            .collect();
        let mut bytes = Vec::with_capacity(encoded.len());
        for block in encoded {
            let block = block.map_err(anyhow::Error::msg)?;
            scored.extend(block.scores);
            bytes.push((block.results, block.couplings));
            if let Some(samples) = samples.as_deref_mut() {
                for (k, row) in block.samples {
                    if taken[k] < SAMPLES_PER_KIND {
                        taken[k] += 1;
                        samples.push(row);
                    }
                }
            }
        }
        if to_writer.send(bytes).is_err() {
            // The writer stopped on an error, which it reports.
            break;
        }
    }
    Ok(scored)
}

/// Renders and encodes records `records` (sample rows kept when `sampling`), or the encoder's
/// error. The block's integration ids are gathered first, by the core that renders them
/// ([`IdBatch`]).
fn render_block(
    renderer: &Renderer<'_, '_>,
    (results_encoder, couplings_encoder): &(RowEncoder, RowEncoder),
    records: std::ops::Range<usize>,
    sampling: bool,
) -> std::result::Result<EncodedBlock, String> {
    let mut ids = IdBatch::default();
    renderer.gather_ids(records.clone(), &mut ids);
    let mut r = results_encoder.clone();
    let mut c = couplings_encoder.clone();
    let mut row = ResultRow::default();
    let mut details = Default::default();
    let mut kept = Vec::new();
    let mut block_scores = Vec::new();
    let mut kept_of = [0usize; FAILURE_NAMES.len()];
    for i in records {
        let record = &renderer.run().outcomes()[i];
        let fields = renderer.render_gathered(i, &mut row, &ids);
        let details = renderer.has_details().then(|| {
            let (fields, score) = renderer.render_details(i, &mut details);
            if let Some(score) = score {
                let coupled = matches!(record.outcome, Outcome::Coupled { .. });
                block_scores.push((coupled, score));
            }
            fields
        });
        let all = fields.iter().chain(details.iter().flatten());
        if sampling {
            if let Some(k) = record.outcome.failure_index() {
                if kept_of[k] < SAMPLES_PER_KIND {
                    kept_of[k] += 1;
                    kept.push((k, all.clone().map(|f| f.to_string()).collect()));
                }
            }
        }
        r.encode(all)?;
        if let Some(fields) = Renderer::coupling(record, &fields) {
            c.encode(fields)?;
        }
    }
    Ok(EncodedBlock {
        results: r.take(),
        couplings: c.take(),
        samples: kept,
        scores: block_scores,
    })
}

/// `results.csv`'s header: BC's columns, plus the detail columns of criteria beyond BC.
pub(crate) fn results_header(renderer: &Renderer<'_, '_>) -> Vec<&'static str> {
    let mut header = RESULTS_HEADER.to_vec();
    if renderer.has_details() {
        header.extend(RESULTS_DETAIL_HEADER);
    }
    header
}

/// A mapping name as a folder name. The config refuses names that are not one valid folder
/// name on every system (`config.rs`); this is the guard for names that reach here another way
/// (a store's job): path separators, characters Windows refuses and control characters become
/// `_`, and `.`/`..` cannot climb out of the output folder.
pub fn folder_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    // ``, `.` and `..` would name the output folder itself or its parent.
    if s.is_empty() {
        "_".into()
    } else if s.chars().all(|c| c == '.') {
        s.replace('.', "_")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::folder_name;

    #[test]
    fn folder_names_stay_inside_the_output_folder() {
        assert_eq!(folder_name("CUSTOMER"), "CUSTOMER");
        assert_eq!(folder_name("a/b\\c:d"), "a_b_c_d");
        assert_eq!(folder_name(".."), "__");
        assert_eq!(folder_name(""), "_");
        assert_eq!(folder_name("tab\there"), "tab_here");
    }
}
