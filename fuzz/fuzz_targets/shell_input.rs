//! The shell's input path on arbitrary text: statement splitting, completeness checks
//! (the multi-line editor), leading keywords, time-travel clause detection and rewriting.
//! None of them may panic or loop.
#![no_main]

use floe::floe_sql::frontend::{split, time_travel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let statements = split::split_statements(text);
    for s in &statements {
        assert!(text[s.offset..].starts_with(&s.text));
        let _ = split::leading_keyword(&s.text);
        if let Ok(clauses) = time_travel::find_clauses(&s.text) {
            let resolved: Vec<_> = clauses
                .into_iter()
                .filter_map(|c| {
                    let v = time_travel::literal_value(&c.value_text)?;
                    let spec = time_travel::to_spec(&c, v).ok()?;
                    Some((c, spec))
                })
                .collect();
            let _ = time_travel::rewrite(&s.text, &resolved);
        }
    }
    let _ = split::is_incomplete(text);
});
