//! What a run leaves behind: the run directory, the terminal text, the
//! HTML report and its charts (with a timeline of what failed); and
//! `compare`'s table.

pub mod compare;
pub mod html;
pub mod plot;
pub mod run_dir;
pub mod text;
pub mod timeline;

/// Prints the terminal report of a run written to `dir`.
pub fn print(s: &crate::analysis::summary::Summary, dir: &std::path::Path) {
    print!("{}", text::text(s, dir));
}
