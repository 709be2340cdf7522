//! Paging of results taller or wider than the terminal, as psql and DuckDB do: the
//! output of one input line is collected, and shown through `$FLOE_PAGER`, `$PAGER` or
//! `less -SRFX` when it does not fit the screen. Only at an interactive terminal (never
//! in scripts, pipes or `-c`), and `\pager off` turns it off.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

/// Rows and columns of the terminal on standard output, if it is one.
pub fn terminal_size() -> Option<(usize, usize)> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    #[repr(C)]
    struct WinSize {
        rows: u16,
        cols: u16,
        x: u16,
        y: u16,
    }
    unsafe extern "C" {
        fn ioctl(fd: i32, request: u64, ...) -> i32;
    }
    const TIOCGWINSZ: u64 = 0x5413;
    let mut ws = WinSize {
        rows: 0,
        cols: 0,
        x: 0,
        y: 0,
    };
    // SAFETY: TIOCGWINSZ fills a `struct winsize` (four u16) for fd 1.
    let rc = unsafe { ioctl(1, TIOCGWINSZ, &mut ws as *mut WinSize) };
    (rc == 0 && ws.rows > 0 && ws.cols > 0).then_some((ws.rows as usize, ws.cols as usize))
}

/// Whether `text` needs more than `rows` lines (less one for the prompt) or more than
/// `cols` columns.
pub fn too_big(text: &str, rows: usize, cols: usize) -> bool {
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        if lines >= rows || line.chars().count() > cols {
            return true;
        }
    }
    false
}

/// The pager command: `$FLOE_PAGER`, else `$PAGER`, else `less -SRFX` (chopped long
/// lines scroll sideways; quits at once if the text fits after all).
fn pager_command() -> String {
    for var in ["FLOE_PAGER", "PAGER"] {
        if let Ok(p) = std::env::var(var)
            && !p.trim().is_empty()
        {
            return p;
        }
    }
    "less -SRFX".to_string()
}

/// Shows `text`: through the pager when it does not fit the terminal, else directly.
/// A pager that cannot start is reported once and the text printed as it is.
pub fn show(text: &[u8], out: &mut dyn Write) {
    let fits = match terminal_size() {
        Some((rows, cols)) => !too_big(&String::from_utf8_lossy(text), rows, cols),
        None => true,
    };
    if !fits {
        let command = pager_command();
        let spawned = Command::new("sh")
            .args(["-c", &command])
            .stdin(Stdio::piped())
            .spawn();
        match spawned {
            Ok(mut child) => {
                if let Some(mut stdin) = child.stdin.take() {
                    // The pager may quit before reading everything (q): not an error.
                    let _ = stdin.write_all(text);
                }
                let _ = child.wait();
                return;
            }
            Err(e) => crate::report(format!(
                "floe: cannot start the pager '{command}' ({e}); \\pager off turns it off"
            )),
        }
    }
    let _ = out.write_all(text);
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert!(!too_big("a\nb\n", 24, 80));
        assert!(too_big(&"x\n".repeat(30), 24, 80));
        assert!(too_big(&"x".repeat(81), 24, 80));
        assert!(!too_big(&"é".repeat(80), 24, 80));
    }
}
