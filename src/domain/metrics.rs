//! The Prometheus text exposition format, for node_exporter's textfile collector: metric
//! families with their `# HELP` and `# TYPE` lines, label values escaped.

use std::fmt::Write;

/// One metric family: every sample shares its name, help and type (all gauges here: each
/// value is the state after the last command, not a count).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// `jutsu_...`, in base units (`_seconds`, `_ratio`).
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// The samples.
    pub samples: Vec<Sample>,
}

/// One sample: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// The value, already formatted (a decimal number).
    pub value: String,
}

impl Family {
    /// A family without samples yet.
    pub fn new(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            samples: Vec::new(),
        }
    }

    /// Adds a sample.
    pub fn sample(mut self, labels: &[(&'static str, &str)], value: impl ToString) -> Self {
        self.samples.push(Sample {
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value: value.to_string(),
        });
        self
    }

    /// Adds a sample when there is a value.
    pub fn sample_opt(self, labels: &[(&'static str, &str)], value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.sample(labels, v),
            None => self,
        }
    }
}

/// A label value with `\`, `"` and line breaks escaped, as the format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The file's text. Families without samples are left out (promtool refuses a `# TYPE`
/// with nothing under it only in strict parsers, but an empty family says nothing).
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} gauge", f.name);
        for s in &f.samples {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            match labels.is_empty() {
                true => {
                    let _ = writeln!(out, "{} {}", f.name, s.value);
                }
                false => {
                    let _ = writeln!(out, "{}{{{}}} {}", f.name, labels.join(","), s.value);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_help_type_and_escaped_labels() {
        let text = render(&[
            Family::new("jutsu_equity_dollars", "Account value.")
                .sample(&[("mode", "paper")], 9990.19),
            Family::new("jutsu_empty", "Nothing."),
            Family::new("jutsu_up", "Up.").sample(&[], 1),
            Family::new("jutsu_x", "X.").sample(&[("reason", "a \"b\"\\\n")], 0),
        ]);
        assert_eq!(
            text,
            "# HELP jutsu_equity_dollars Account value.\n# TYPE jutsu_equity_dollars gauge\n\
             jutsu_equity_dollars{mode=\"paper\"} 9990.19\n\
             # HELP jutsu_up Up.\n# TYPE jutsu_up gauge\njutsu_up 1\n\
             # HELP jutsu_x X.\n# TYPE jutsu_x gauge\njutsu_x{reason=\"a \\\"b\\\"\\\\\\n\"} 0\n"
        );
    }
}
