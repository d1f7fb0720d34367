//! A scenario's report: its settings, the figures it measured, the problems it saw (an
//! invariant broken: something lost, duplicated, matched twice) and notes on what bounded
//! it. Printed as a table for people or as JSON for `make bench`.

use serde::Serialize;

/// One measured number.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub settings: serde_json::Value,
    pub figures: Vec<Figure>,
    /// Invariants broken; a non-empty list fails the run (exit code 2).
    pub problems: Vec<String>,
    /// What else the reader should know (errors by code, what was left out).
    pub notes: Vec<String>,
    /// When the measured operations ran (after connecting and warming, before closing),
    /// so `make bench` counts the CPU of that span only, not of the set-up around it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
}

/// A span of wall-clock time, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Window {
    pub start: f64,
    pub end: f64,
}

impl Window {
    /// From `start` until now.
    pub fn since(start: std::time::SystemTime) -> Self {
        let unix = |at: std::time::SystemTime| {
            at.duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        };
        Self {
            start: unix(start),
            end: unix(std::time::SystemTime::now()),
        }
    }
}

impl Report {
    pub fn new(scenario: &str, settings: &impl Serialize) -> Self {
        Self {
            scenario: scenario.to_owned(),
            settings: serde_json::to_value(settings).unwrap_or(serde_json::Value::Null),
            figures: Vec::new(),
            problems: Vec::new(),
            notes: Vec::new(),
            window: None,
        }
    }

    pub fn figure(&mut self, name: impl Into<String>, value: f64, unit: &str) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit: unit.to_owned(),
        });
    }

    /// p50, p99 and p999 of `latency` as three figures named `<name> p50` etc.
    pub fn percentiles(&mut self, name: &str, latency: &crate::latency::Latency) {
        if latency.count() == 0 {
            self.note(format!("{name}: no samples"));
            return;
        }
        for (label, q) in [("p50", 0.50), ("p99", 0.99), ("p999", 0.999)] {
            self.figure(format!("{name} {label}"), latency.ms_at(q), "ms");
        }
    }

    pub fn problem(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn to_table(&self) -> String {
        let width = self.figures.iter().map(|f| f.name.len()).max().unwrap_or(0);
        let mut out = format!("\n{} ({})\n", self.scenario, self.settings);
        for figure in &self.figures {
            out.push_str(&format!(
                "  {:width$}  {:>12} {}\n",
                figure.name,
                format_value(figure.value),
                figure.unit
            ));
        }
        if self.problems.is_empty() {
            out.push_str("  invariants: none broken\n");
        }
        for problem in &self.problems {
            out.push_str(&format!("  BROKEN: {problem}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        out
    }
}

/// Integers as integers, small numbers with a few decimals.
fn format_value(value: f64) -> String {
    if (value.fract() == 0.0 && value.abs() < 1e15) || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_figures_problems_and_notes() {
        let mut report = Report::new("demo", &serde_json::json!({"rate": 10}));
        report.figure("delivered", 1234.0, "msg/s");
        report.figure("latency p99", 1.25, "ms");
        report.problem("3 messages lost");
        report.note("send errors: rate_limited 2");
        let table = report.to_table();
        assert!(table.contains("delivered"));
        assert!(table.contains("1234 msg/s"));
        assert!(table.contains("1.25 ms"));
        assert!(table.contains("BROKEN: 3 messages lost"));
        assert!(table.contains("note: send errors"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
        assert_eq!(json["figures"][0]["value"], 1234.0);
        assert_eq!(json["problems"][0], "3 messages lost");
    }
}
