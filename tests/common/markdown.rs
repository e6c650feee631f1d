//! The ```kdl blocks of a markdown text: the examples of docs/, shared by the integration
//! tests and the fuzz targets (included with `#[path]`, not part of the library).

/// ```kdl blocks of a markdown text.
pub fn kdl_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```kdl") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}
