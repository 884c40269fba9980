//! `coupler completions SHELL` and `coupler man`: what a package or an administrator installs
//! beside the binary. Both are generated from the command tree itself (`help::command`), so
//! they always match the arguments of this very build.
//!
//! `clap_complete` and `clap_mangen` are clap's own generators, the usual ones for clap command
//! lines (ripgrep, bat, fd and others ship their completions and man pages through them).
//!
//! The man page is one page for the whole command, the way `rg --generate man` is: NAME,
//! SYNOPSIS, DESCRIPTION and OPTIONS of `coupler`, then COMMANDS with a subsection per command
//! (its synopsis, description, options and examples), EXAMPLES, EXIT STATUS and VERSION. The
//! sections of each command are clap_mangen's; the page around them is assembled here.

use std::io::Write;

use anyhow::Result;
use clap::Command;
use clap_complete::Shell;
use clap_mangen::roff::{roman, Roff};
use clap_mangen::Man;

use crate::help::{self, Example};

/// Prints the completion script for `shell` to stdout.
pub fn completions(shell: Shell) -> Result<()> {
    let mut cmd = help::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "coupler", &mut out);
    out.flush()?;
    Ok(())
}

/// Prints the man page (roff) to stdout.
pub fn man() -> Result<()> {
    let page = man_page()?;
    let mut out = std::io::stdout().lock();
    out.write_all(page.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The man page, `coupler(1)`.
fn man_page() -> Result<String> {
    let mut cmd = help::command().bin_name("coupler");
    cmd.build();
    let top = Man::new(cmd.clone())
        .title("COUPLER")
        .section("1")
        // The commit's date; without one an empty quoted argument, so that the arguments
        // after it keep their places.
        .date(match env!("COUPLER_COMMIT_DATE") {
            "" => "\"\"",
            date => date,
        })
        // The footer's left corner: the version without the commit, which VERSION shows (the
        // footer's middle holds the date).
        .source(format!("coupler {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");

    let mut page = Roff::new().render(); // the preamble: the apostrophe string `Aq`
    let piece = |render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| -> Result<String> {
        let mut buf = Vec::new();
        render(&mut buf)?;
        Ok(without_preamble(String::from_utf8(buf)?))
    };
    page.push_str(&piece(&|w| top.render_title(w))?);
    page.push_str(&piece(&|w| top.render_name_section(w))?);
    page.push_str(&piece(&|w| top.render_synopsis_section(w))?);
    page.push_str(&piece(&|w| top.render_description_section(w))?);
    page.push_str(&piece(&|w| top.render_options_section(w))?);

    page.push_str(".SH COMMANDS\n");
    for sub in leaves(&cmd) {
        let name = sub.get_bin_name().unwrap_or(sub.get_name()).to_owned();
        let man = Man::new(sub.clone());
        page.push_str(&format!(".SS \"{name}\"\n"));
        page.push_str(&without_heading(piece(&|w| {
            man.render_description_section(w)
        })?));
        page.push_str(".PP\n");
        page.push_str(&without_heading(piece(&|w| {
            man.render_synopsis_section(w)
        })?));
        page.push_str(".PP\n\\fBOptions:\\fR\n");
        page.push_str(&without_heading(piece(&|w| man.render_options_section(w))?));
        if let Some(examples) = examples_of(&name) {
            page.push_str(".PP\n\\fBExamples:\\fR\n");
            page.push_str(&examples_roff(examples));
        }
    }

    page.push_str(".SH EXAMPLES\n");
    page.push_str(&examples_roff(examples_of("coupler").unwrap_or_default()));

    let mut tail = Roff::new();
    tail.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "The job ran, even if some records could not be coupled."),
        (
            "1",
            "The job could not run: a bad config, an unreadable source, bad data (one line on stderr names the file, line and column), or a failed connection test.",
        ),
        (
            "2",
            "A usage error: an unknown command or argument, a missing or invalid value.",
        ),
    ] {
        tail.control("TP", []).text([roman(code)]).text([roman(meaning)]);
    }
    tail.control("SH", ["VERSION"]);
    tail.text([roman(format!("coupler {}", env!("COUPLER_VERSION")))]);
    page.push_str(&without_preamble(tail.render()));
    Ok(ascii(&page))
}

/// The page in ASCII: other characters as groff's `\[uXXXX]` escapes, which every formatter
/// reads whatever its input encoding (man-db converts input, `groff` alone takes Latin-1).
fn ascii(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

/// The commands that run something (`coupler couple`, `coupler criteria compare`, …), in the
/// order of `--help`; clap's own `help` left out.
fn leaves(cmd: &Command) -> Vec<&Command> {
    let mut out = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        if sub.has_subcommands() {
            out.extend(leaves(sub));
        } else {
            out.push(sub);
        }
    }
    out
}

/// The examples of a command, by its full name (`coupler criteria compare`).
fn examples_of(name: &str) -> Option<&'static [Example]> {
    let path = name.strip_prefix("coupler").unwrap_or(name).trim();
    help::EXAMPLES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, examples)| *examples)
}

/// Examples as an indented no-fill block: each `# what` line over its command line.
fn examples_roff(examples: &[Example]) -> String {
    let mut roff = Roff::new();
    roff.control("RS", ["4"]).control("nf", []);
    for (i, (what, line)) in examples.iter().enumerate() {
        if i > 0 {
            roff.text([roman("")]);
        }
        roff.text([roman(format!("# {what}"))]);
        roff.text([roman(*line)]);
    }
    roff.control("fi", []).control("RE", []);
    without_preamble(roff.render())
}

/// roff text without the apostrophe preamble that every render of the `roff` crate starts with
/// (the page has it once, at its top).
fn without_preamble(text: String) -> String {
    let preamble = Roff::new().render();
    match text.strip_prefix(&preamble) {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

/// A section of clap_mangen's without its `.SH` heading line (inside a command's subsection).
fn without_heading(text: String) -> String {
    text.lines()
        .filter(|l| !l.starts_with(".SH "))
        .map(|l| format!("{l}\n"))
        .collect()
}
