//! Faults injected into real runs of the `flex-generate` binary (issue 16):
//! SIGKILL at random moments then `--resume`, writes failing for lack of space,
//! a read-only output folder, an output path that is a directory, and edited
//! or truncated checkpoints. Each run uses a tiny random model (`random:tiny`)
//! with a 74-token character tokenizer written here, so a run takes well under
//! a second and the whole file a few tens of seconds on two cores.
//! A second process on the same output is refused naming the lock: see
//! `a_second_writer_of_the_same_output_is_refused_naming_the_lock`
//! (crates/chorus-results/src/lock.rs).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chorus::results::{ResultRow, read_results};

const BIN: &str = env!("CARGO_BIN_EXE_flex-generate");
const ITEMS: &str = "16";

/// A character-level `tokenizer.json` (every character a token, unknown ones
/// `[UNK]`) small enough for the `tiny` preset's 97-token vocabulary, with
/// its `tokenizer_config.json`; returns the tokenizer path.
fn tiny_tokenizer(dir: &Path) -> PathBuf {
    let chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ?.,'\":-\n";
    let mut vocab = serde_json::Map::new();
    for token in ["[UNK]", "<s>", "</s>"] {
        vocab.insert(token.into(), vocab.len().into());
    }
    for c in chars.chars() {
        vocab.insert(c.to_string(), vocab.len().into());
    }
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "post_processor": null, "decoder": null,
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?s)."},
                          "behavior": "Isolated", "invert": false},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, tokenizer.to_string()).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true}"#,
    )
    .unwrap();
    path
}

/// The repository's data folder.
fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

/// A run's command line: 16 WebQuestions items, 2 paraphrases each, one item
/// per batch (so a checkpoint append after every item), 4 new tokens.
fn command(tokenizer: &Path, output: &Path, extra: &[&str]) -> Command {
    let dataset = data_dir().join("webquestions/test.paraphrased20.jsonl");
    let mut cmd = Command::new(BIN);
    cmd.args(["--model", "random:tiny", "--tokenizer"])
        .arg(tokenizer)
        .arg("--dataset")
        .arg(dataset)
        .args([
            "--max_samples",
            ITEMS,
            "--num_samples",
            "2",
            "--batch-size",
            "1",
        ])
        .args(["--max-new-tokens", "4", "--output"])
        .arg(output)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn rows(feather: &Path) -> Vec<ResultRow> {
    read_results(feather)
        .unwrap_or_else(|e| panic!("{}: {e}", feather.display()))
        .into_rows()
}

/// SplitMix64: a seeded generator, so every trial is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Fixture shared by the tests: a temporary folder with the tokenizer and the
/// rows of an uninterrupted run.
struct Setup {
    dir: tempfile::TempDir,
    tokenizer: PathBuf,
    reference: Vec<ResultRow>,
    /// Wall time of the uninterrupted run.
    took: Duration,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = tiny_tokenizer(dir.path());
    let whole = dir.path().join("reference/whole.feather");
    let start = Instant::now();
    let out = run(command(&tokenizer, &whole, &[]));
    let took = start.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    let reference = rows(&whole);
    assert_eq!(reference.len(), 16);
    Setup {
        dir,
        tokenizer,
        reference,
        took,
    }
}

/// Names in `dir` of files staged by the final write (`.<name>.<random>.tmp`).
fn staging(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with('.') && name.ends_with(".tmp")
            })
        })
        .unwrap_or(false)
}

/// Lines in the checkpoint (header included), 0 when absent.
fn checkpoint_lines(checkpoint: &Path) -> usize {
    std::fs::read(checkpoint)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// How a trial picks its moment to kill.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// After a uniformly random delay within the run's length.
    Delay,
    /// Right after the checkpoint grew to `n` rows (the fsync in flight).
    Checkpointed(usize),
    /// As soon as a temporary file of the final Feather/CSV write appears.
    FinalWrite,
}

/// Polls `child` until `ready` or its exit; kills it with SIGKILL when ready.
/// Returns whether the kill landed while the process was still running.
fn kill_when(child: &mut Child, deadline: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready() || start.elapsed() > deadline {
            // Child::kill sends SIGKILL on Unix: no handler, no cleanup.
            let killed = child.kill().is_ok();
            child.wait().unwrap();
            return killed;
        }
        std::thread::yield_now();
    }
}

#[test]
fn sigkill_at_random_moments_then_resume_loses_and_duplicates_nothing() {
    let s = setup();
    let mut rng = Rng(0x5EED_0016);
    let trials = 24;
    let mut landed = 0;
    for trial in 0..trials {
        let moment = match trial % 3 {
            0 => Moment::Delay,
            1 => Moment::Checkpointed(1 + rng.below(15) as usize),
            _ => Moment::FinalWrite,
        };
        let dir = s.dir.path().join(format!("trial-{trial}"));
        let out = dir.join("run.feather");
        let checkpoint = dir.join("run.feather.partial.jsonl");
        let mut child = command(&s.tokenizer, &out, &[]).spawn().unwrap();
        let delay = Duration::from_micros(rng.below(s.took.as_micros() as u64 + 1));
        let start = Instant::now();
        let deadline = s.took * 4 + Duration::from_secs(2);
        let killed = kill_when(&mut child, deadline, || match moment {
            Moment::Delay => start.elapsed() >= delay,
            Moment::Checkpointed(n) => checkpoint_lines(&checkpoint) > n,
            Moment::FinalWrite => staging(&dir),
        });
        landed += usize::from(killed);
        // Resume, sometimes killed once more on the way, until it completes.
        for attempt in 0.. {
            let mut resume = command(&s.tokenizer, &out, &["--resume"]);
            if attempt == 0 && rng.below(3) == 0 {
                let mut child = resume.spawn().unwrap();
                let delay = Duration::from_micros(rng.below(s.took.as_micros() as u64 + 1));
                let start = Instant::now();
                kill_when(&mut child, deadline, || start.elapsed() >= delay);
                continue;
            }
            let done = run(resume);
            assert!(
                done.status.success(),
                "trial {trial} ({moment:?}): resume failed: {}",
                text(&done)
            );
            break;
        }
        assert_eq!(
            rows(&out),
            s.reference,
            "trial {trial} ({moment:?}, killed: {killed}): resumed rows differ"
        );
        assert!(
            !checkpoint.exists(),
            "trial {trial}: checkpoint left behind"
        );
        assert!(!staging(&dir), "trial {trial}: temporary files left behind");
    }
    eprintln!("{landed} of {trials} kills landed while the run was still going");
    // Most kills must land mid-run, or the test tests nothing.
    assert!(
        landed >= trials * 2 / 3,
        "only {landed} of {trials} kills landed"
    );
}

/// `cmd` run by `sh` with files limited to `bytes` (RLIMIT_FSIZE) and SIGXFSZ
/// ignored, so a write past the limit fails with EFBIG ("File too large") as a
/// full disk fails with ENOSPC: the same error path, whatever the file system
/// and without root.
fn with_file_size_limit(cmd: &Command, bytes: u64) -> Command {
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {} && exec \"$0\" \"$@\"",
            bytes / 512
        ))
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    limited
}

#[test]
fn disk_full_fails_naming_the_file_keeps_the_old_output_and_resumes() {
    let s = setup();
    let reference_feather = s.dir.path().join("reference/whole.feather");
    let feather_len = std::fs::metadata(&reference_feather).unwrap().len();
    // From a failing checkpoint header to a failing final Feather write.
    for limit in [512, 2048, 8192, feather_len - 512] {
        for previous in [false, true] {
            let dir = s.dir.path().join(format!("full-{limit}-{previous}"));
            std::fs::create_dir_all(&dir).unwrap();
            let out = dir.join("run.feather");
            let mut extra = vec![];
            if previous {
                // A complete earlier output, replaced with --force.
                std::fs::copy(&reference_feather, &out).unwrap();
                std::fs::copy(
                    reference_feather.with_extension("csv"),
                    out.with_extension("csv"),
                )
                .unwrap();
                extra.push("--force");
            }
            let failed = run(with_file_size_limit(
                &command(&s.tokenizer, &out, &extra),
                limit,
            ));
            let message = text(&failed);
            assert!(!failed.status.success(), "limit {limit}: {message}");
            assert!(
                message.contains(dir.to_str().unwrap()) && message.contains("too large"),
                "limit {limit}: the error must name the file: {message}"
            );
            if previous {
                assert_eq!(rows(&out), s.reference, "limit {limit}: old output damaged");
                assert_eq!(
                    std::fs::read(out.with_extension("csv")).unwrap(),
                    std::fs::read(reference_feather.with_extension("csv")).unwrap()
                );
            } else {
                assert!(!out.exists(), "limit {limit}: a partial output appeared");
            }
            // Space is back: the run resumes to the uninterrupted rows.
            extra.push("--resume");
            let done = run(command(&s.tokenizer, &out, &extra));
            assert!(done.status.success(), "limit {limit}: {}", text(&done));
            assert_eq!(rows(&out), s.reference, "limit {limit}");
            assert!(!staging(&dir), "limit {limit}: temporary files left behind");
        }
    }
}

#[test]
fn a_read_only_output_folder_is_refused_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let dir = s.dir.path().join("read-only");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(dir.join("probe"), b"x").is_ok() {
        eprintln!(
            "read-only folder check skipped: permissions are not enforced for this user (root)"
        );
        return;
    }
    let out = dir.join("run.feather");
    let failed = run(command(&s.tokenizer, &out, &[]));
    let message = text(&failed);
    assert!(!failed.status.success(), "{message}");
    assert!(
        message.contains(dir.to_str().unwrap()) && message.contains("ermission denied"),
        "{message}"
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_output_path_that_is_a_directory_is_refused_before_any_work() {
    let s = setup();
    let out = s.dir.path().join("taken.feather");
    std::fs::create_dir(&out).unwrap();
    for extra in [&[][..], &["--force"], &["--resume"]] {
        let failed = run(command(&s.tokenizer, &out, extra));
        let message = text(&failed);
        assert!(!failed.status.success(), "{extra:?}: {message}");
        assert!(message.contains("is a directory"), "{extra:?}: {message}");
    }
    assert!(!s.dir.path().join("taken.feather.partial.jsonl").exists());
}

/// A run aborted (test hook) after 6 checkpointed items; returns its paths.
fn aborted_run(s: &Setup, name: &str) -> (PathBuf, PathBuf) {
    let out = s.dir.path().join(name).join("run.feather");
    let mut cmd = command(&s.tokenizer, &out, &[]);
    cmd.env(chorus::cli::ABORT_AFTER_ENV, "6");
    let aborted = run(cmd);
    assert!(!aborted.status.success(), "{}", text(&aborted));
    let checkpoint = out.with_extension("feather.partial.jsonl");
    assert_eq!(checkpoint_lines(&checkpoint), 7);
    (out, checkpoint)
}

#[test]
fn an_edited_or_truncated_checkpoint_is_refused_never_used() {
    let s = setup();
    // Edited: a row still valid JSON, its answer changed.
    let (out, checkpoint) = aborted_run(&s, "edited");
    let original = std::fs::read_to_string(&checkpoint).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let forged = lines[3].replacen("\"prediction\":\"", "\"prediction\":\"forged ", 1);
    assert_ne!(forged, lines[3]);
    let edited = original.replacen(lines[3], &forged, 1);
    std::fs::write(&checkpoint, &edited).unwrap();
    let refused = run(command(&s.tokenizer, &out, &["--resume"]));
    let message = text(&refused);
    assert!(!refused.status.success(), "{message}");
    assert!(
        message.contains("partial.jsonl:4:") && message.contains("sha256"),
        "{message}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_to_string(&checkpoint).unwrap(),
        edited,
        "left as found"
    );

    // Truncated inside a middle line: refused naming the line.
    let (out, checkpoint) = aborted_run(&s, "cut");
    let original = std::fs::read_to_string(&checkpoint).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let mut cut = lines.clone();
    cut[2] = &lines[2][..lines[2].len() / 2];
    std::fs::write(&checkpoint, cut.join("\n") + "\n").unwrap();
    let refused = run(command(&s.tokenizer, &out, &["--resume"]));
    let message = text(&refused);
    assert!(
        !refused.status.success() && message.contains("partial.jsonl:3:"),
        "{message}"
    );

    // Truncated at the end, as a kill tears the last line: that row is redone.
    let (out, checkpoint) = aborted_run(&s, "torn");
    let original = std::fs::read(&checkpoint).unwrap();
    std::fs::write(&checkpoint, &original[..original.len() - 30]).unwrap();
    let done = run(command(&s.tokenizer, &out, &["--resume"]));
    assert!(done.status.success(), "{}", text(&done));
    assert!(text(&done).contains("(5 resumed)"), "{}", text(&done));
    assert_eq!(rows(&out), s.reference);
}
