//! Printing results: table, csv, tsv, json, ndjson, markdown.

use std::io::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, ContentArrangement, Table};
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::Result;

/// Output formats (`--format`, `\format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Boxed table.
    Table,
    /// Comma-separated, with a header.
    Csv,
    /// Tab-separated, with a header.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Markdown table.
    Markdown,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "json" => Format::Json,
            "ndjson" => Format::Ndjson,
            "markdown" | "md" => Format::Markdown,
            other => {
                return Err(format!(
                    "unknown format '{other}': use table, csv, tsv, json, ndjson or markdown"
                ));
            }
        })
    }
}

/// Text of every cell of a batch, row by row.
fn cells(batch: &RecordBatch, null: &str) -> Result<Vec<Vec<String>>> {
    let opts = FormatOptions::default().with_null(null);
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|r| formatters.iter().map(|f| f.value(r).to_string()).collect())
        .collect())
}

fn csv_field(s: &str, sep: char) -> String {
    if s.contains(sep) || s.contains('"') || s.contains('\n') || s.contains('\r') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn json_value(col: &dyn Array, row: usize, text: &str) -> serde_json::Value {
    use datafusion::arrow::datatypes::DataType as D;
    if col.is_null(row) || col.data_type() == &D::Null {
        return serde_json::Value::Null;
    }
    match col.data_type() {
        D::Boolean => serde_json::Value::Bool(text == "true"),
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => {
            text.parse::<i128>()
                .ok()
                .and_then(|v| serde_json::Number::from_i128(v).map(serde_json::Value::Number))
                .unwrap_or_else(|| serde_json::Value::String(text.to_string()))
        }
        D::Float32 | D::Float64 => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| serde_json::Value::String(text.to_string())),
        _ => serde_json::Value::String(text.to_string()),
    }
}

/// Writes results incrementally; `finish` closes the format (JSON array, table).
pub struct Printer<'a> {
    out: &'a mut dyn Write,
    format: Format,
    schema: SchemaRef,
    maxrows: usize,
    rows: usize,
    shown: Vec<Vec<String>>,
    json_first: bool,
}

impl<'a> Printer<'a> {
    /// A printer for one result.
    pub fn new(
        out: &'a mut dyn Write,
        format: Format,
        schema: SchemaRef,
        maxrows: usize,
    ) -> Result<Self> {
        let mut p = Self {
            out,
            format,
            schema,
            maxrows,
            rows: 0,
            shown: Vec::new(),
            json_first: true,
        };
        p.header()?;
        Ok(p)
    }

    fn header(&mut self) -> Result<()> {
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        match self.format {
            Format::Csv => writeln!(
                self.out,
                "{}",
                names
                    .iter()
                    .map(|n| csv_field(n, ','))
                    .collect::<Vec<_>>()
                    .join(",")
            )?,
            Format::Tsv => writeln!(
                self.out,
                "{}",
                names
                    .iter()
                    .map(|n| csv_field(n, '\t'))
                    .collect::<Vec<_>>()
                    .join("\t")
            )?,
            Format::Json => write!(self.out, "[")?,
            _ => {}
        }
        Ok(())
    }

    /// Prints one batch.
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        match self.format {
            Format::Table | Format::Markdown => {
                let keep = if self.maxrows == 0 {
                    n
                } else {
                    self.maxrows.saturating_sub(self.shown.len()).min(n)
                };
                if keep > 0 {
                    let c = cells(&batch.slice(0, keep), "NULL")?;
                    self.shown.extend(c);
                }
            }
            Format::Csv | Format::Tsv => {
                let sep = if self.format == Format::Csv {
                    ','
                } else {
                    '\t'
                };
                for row in cells(batch, "")? {
                    let line: Vec<String> = row.iter().map(|c| csv_field(c, sep)).collect();
                    writeln!(self.out, "{}", line.join(&sep.to_string()))?;
                }
            }
            Format::Json | Format::Ndjson => {
                // Arrow's JSON encoder: columns in order, NULL as null, structs, lists and
                // maps as nested JSON. The per-cell fallback covers the types it cannot
                // encode (intervals, say), as strings.
                let mut buf = Vec::new();
                let encoded = {
                    let mut w = datafusion::arrow::json::WriterBuilder::new()
                        .with_explicit_nulls(true)
                        .build::<_, datafusion::arrow::json::writer::LineDelimited>(&mut buf);
                    w.write(batch).and_then(|()| w.finish())
                };
                if encoded.is_ok() {
                    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        if self.format == Format::Ndjson {
                            self.out.write_all(line)?;
                            self.out.write_all(b"\n")?;
                        } else {
                            if !self.json_first {
                                write!(self.out, ",")?;
                            }
                            self.json_first = false;
                            self.out.write_all(line)?;
                        }
                    }
                    self.rows += n;
                    return Ok(());
                }
                let text = cells(batch, "")?;
                for (r, row) in text.iter().enumerate() {
                    // Built by hand so the keys keep the columns' order.
                    let fields: Vec<String> = self
                        .schema
                        .fields()
                        .iter()
                        .enumerate()
                        .map(|(c, field)| {
                            format!(
                                "{}:{}",
                                serde_json::Value::String(field.name().clone()),
                                json_value(batch.column(c).as_ref(), r, &row[c])
                            )
                        })
                        .collect();
                    let v = format!("{{{}}}", fields.join(","));
                    if self.format == Format::Ndjson {
                        writeln!(self.out, "{v}")?;
                    } else {
                        if !self.json_first {
                            write!(self.out, ",")?;
                        }
                        self.json_first = false;
                        write!(self.out, "{v}")?;
                    }
                }
            }
        }
        self.rows += n;
        Ok(())
    }

    /// Closes the output; returns the number of rows.
    pub fn finish(self) -> Result<usize> {
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        match self.format {
            _ if names.is_empty() => {}
            Format::Table => {
                let mut table = Table::new();
                table
                    .load_preset(UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Disabled)
                    .set_header(names.iter().map(Cell::new));
                for row in &self.shown {
                    table.add_row(row.iter().map(Cell::new));
                }
                writeln!(self.out, "{table}")?;
                if self.rows > self.shown.len() {
                    writeln!(
                        self.out,
                        "({} rows, {} shown; use --maxrows 0 or \\maxrows to see all)",
                        self.rows,
                        self.shown.len()
                    )?;
                }
            }
            Format::Markdown => {
                let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
                writeln!(
                    self.out,
                    "| {} |",
                    names.iter().map(|n| esc(n)).collect::<Vec<_>>().join(" | ")
                )?;
                writeln!(
                    self.out,
                    "|{}|",
                    names.iter().map(|_| "---").collect::<Vec<_>>().join("|")
                )?;
                for row in &self.shown {
                    writeln!(
                        self.out,
                        "| {} |",
                        row.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
                    )?;
                }
                if self.rows > self.shown.len() {
                    writeln!(
                        self.out,
                        "\n({} rows, {} shown; use --maxrows 0 or \\maxrows to see all)",
                        self.rows,
                        self.shown.len()
                    )?;
                }
            }
            Format::Json => writeln!(self.out, "]")?,
            _ => {}
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}
