//! Results: a table on stdout and the same as JSON.

use serde::Serialize;

/// One compared operation.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured.
    pub operation: String,
    /// floe's number.
    pub floe: f64,
    /// The alternative's number (same unit).
    pub alternative: Option<f64>,
    /// What the alternative is.
    pub alternative_name: String,
    /// Unit of both numbers.
    pub unit: String,
    /// How many times better floe is (>1: floe wins), when comparable.
    pub ratio: Option<f64>,
    /// The target this row is held to, if any.
    pub target: Option<String>,
}

/// A suite's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Suite name.
    pub suite: String,
    /// Whether `--quick` was used.
    pub quick: bool,
    /// Rows.
    pub rows: Vec<Row>,
    /// Free-form notes (sizes, settings).
    pub notes: Vec<String>,
}

impl Report {
    /// An empty report.
    pub fn new(suite: &str, quick: bool) -> Self {
        Self {
            suite: suite.into(),
            quick,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a row where a smaller number is better (times): ratio = alternative / floe.
    pub fn lower_is_better(
        &mut self,
        op: &str,
        floe: f64,
        alt_name: &str,
        alt: Option<f64>,
        unit: &str,
        target: Option<&str>,
    ) {
        self.rows.push(Row {
            operation: op.into(),
            floe,
            alternative: alt,
            alternative_name: alt_name.into(),
            unit: unit.into(),
            ratio: alt.map(|a| a / floe),
            target: target.map(str::to_string),
        });
    }

    /// Adds a row where a bigger number is better (throughput): ratio = floe / alternative.
    pub fn higher_is_better(
        &mut self,
        op: &str,
        floe: f64,
        alt_name: &str,
        alt: Option<f64>,
        unit: &str,
        target: Option<&str>,
    ) {
        self.rows.push(Row {
            operation: op.into(),
            floe,
            alternative: alt,
            alternative_name: alt_name.into(),
            unit: unit.into(),
            ratio: alt.map(|a| floe / a),
            target: target.map(str::to_string),
        });
    }

    /// Prints the table.
    pub fn print(&self) {
        println!(
            "\n== floe-bench {}{}",
            self.suite,
            if self.quick { " (quick)" } else { "" }
        );
        for n in &self.notes {
            println!("   {n}");
        }
        let fmt = |v: f64| {
            if v >= 1000.0 {
                format!("{v:.0}")
            } else if v >= 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.3}")
            }
        };
        println!(
            "{:<44} {:>12} {:>12}  {:<22} {:>8}  target",
            "operation", "floe", "alternative", "(alternative)", "ratio"
        );
        for r in &self.rows {
            println!(
                "{:<44} {:>12} {:>12}  {:<22} {:>8}  {}",
                format!("{} [{}]", r.operation, r.unit),
                fmt(r.floe),
                r.alternative.map(fmt).unwrap_or_else(|| "-".into()),
                r.alternative_name,
                r.ratio
                    .map(|x| format!("{x:.2}x"))
                    .unwrap_or_else(|| "-".into()),
                r.target.clone().unwrap_or_default()
            );
        }
    }
}
