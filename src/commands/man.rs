//! `converge man`: the manual page converge(1) in roff, generated from the clap
//! definition (`cli.rs`) by `clap_mangen`: the name, synopsis and description of
//! `converge`, then one section per command (its synopsis, description and options),
//! then the exit status. One page rather than a page per command: `man ./converge.1`
//! and a search inside it find every option.

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::Cli;
use crate::error;

pub fn run() -> i32 {
    match page() {
        Ok(text) => {
            super::print_out(&text, true);
            error::OK
        }
        Err(e) => {
            super::print_err(&format!("error: cannot render the manual page: {e}\n"), true);
            error::FAILURE
        }
    }
}

/// The whole page, roff.
pub fn page() -> std::io::Result<String> {
    let mut cmd = Cli::command();
    cmd.build();
    let top = Man::new(cmd.clone()).title("CONVERGE");
    let mut out = Vec::new();
    top.render_title(&mut out)?;
    top.render_name_section(&mut out)?;
    top.render_synopsis_section(&mut out)?;
    top.render_description_section(&mut out)?;
    top.render_options_section(&mut out)?;
    let exit_codes = cmd.get_after_help().map(|h| h.to_string());
    for sub in cmd.get_subcommands() {
        let name = format!("{} {}", cmd.get_name(), sub.get_name()).to_uppercase();
        out.extend(format!(".SH \"{name}\"\n").into_bytes());
        let man = Man::new(sub.clone());
        let mut section = Vec::new();
        man.render_synopsis_section(&mut section)?;
        man.render_description_section(&mut section)?;
        man.render_options_section(&mut section)?;
        // the exit codes are said once, at the end; what else a command says after its
        // options is kept
        let after = sub.get_after_help().map(|h| h.to_string());
        if after.is_some() && after != exit_codes {
            section.extend(extra(&man, "NOTES")?.into_bytes());
        }
        out.extend(subsections(&String::from_utf8_lossy(&section)).into_bytes());
    }
    out.extend(extra(&top, "\"EXIT STATUS\"")?.into_bytes());
    top.render_version_section(&mut out)?;
    Ok(once_defined(&String::from_utf8_lossy(&out)))
}

/// Each clap_mangen render starts by defining the string `Aq`; one definition, at the
/// top, is enough for the page.
fn once_defined(roff: &str) -> String {
    const DEFINE: [&str; 2] = [".ie \\n(.g .ds Aq \\(aq", ".el .ds Aq '"];
    let mut seen = [false; 2];
    let mut out = String::with_capacity(roff.len());
    for line in roff.lines() {
        if let Some(k) = DEFINE.iter().position(|d| *d == line) {
            if seen[k] {
                continue;
            }
            seen[k] = true;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A command's after-help as the section `title`, its lines kept as `--help` shows them
/// (no filling: they are tables and examples).
fn extra(man: &Man, title: &str) -> std::io::Result<String> {
    let mut text = Vec::new();
    man.render_extra_section(&mut text)?;
    let text = String::from_utf8_lossy(&text).replace(".SH EXTRA\n", &format!(".SH {title}\n.nf\n"));
    Ok(format!("{text}.fi\n"))
}

/// A command's sections as sub-sections of its own (`.SH` → `.SS`).
fn subsections(roff: &str) -> String {
    let mut out = String::with_capacity(roff.len());
    for line in roff.lines() {
        match line.strip_prefix(".SH ") {
            Some(title) => out.push_str(&format!(".SS {title}")),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_defines_its_strings_once() {
        let page = super::page().expect("the page");
        assert_eq!(page.matches(".ds Aq").count(), 2, "one .ie/.el pair");
        assert!(page.starts_with(".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH CONVERGE 1"), "{}", &page[..80]);
    }
}
