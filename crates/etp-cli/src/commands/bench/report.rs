//! The result of a bench run: figures with their same-run baselines and ratios, printed as
//! one table and optionally written as JSON.
//!
//! Ratios are taken **per run** (figure and baseline measured back to back) and then
//! summarised, because on a noisy machine the absolute numbers of two runs disagree far
//! more than the ratios of one run do. A ratio is always "our speed relative to the
//! baseline's": `figure / baseline` when higher is better (throughput), `baseline /
//! figure` when lower is better (latency), so 1.0 means "as fast as the baseline" and
//! targets read the same way for both.

use std::fmt::Write as _;

use serde::Serialize;

/// Version of the JSON layout; raised when a field changes meaning or disappears.
pub const JSON_VERSION: u32 = 1;

/// Which direction is good for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Throughput-like: more is better.
    Higher,
    /// Latency- or cost-like: less is better.
    Lower,
}

/// Median, minimum and maximum of the per-run values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// One value per run, in run order.
    pub runs: Vec<f64>,
    /// Median of `runs` (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest run.
    pub min: f64,
    /// Largest run.
    pub max: f64,
}

impl Stats {
    /// Summarises `runs`; `None` when there is no finite value.
    pub fn of(runs: Vec<f64>) -> Option<Stats> {
        let mut sorted: Vec<f64> = runs.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Stats {
            runs,
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

/// A value's `p`-th percentile (0–100) by the nearest-rank method; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What a figure is compared against, measured in the same runs.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// Stable identifier of the baseline measurement.
    pub id: String,
    /// What was measured.
    pub name: String,
    /// Unit of the values (the figure's unit).
    pub unit: String,
    /// The measured values.
    #[serde(flatten)]
    pub stats: Stats,
}

/// A target from the issue: reported, never asserted.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The target as text, e.g. `ratio ≥ 0.70`.
    pub text: String,
    /// Whether the median meets it (`null` when it could not be judged).
    pub met: Option<bool>,
}

/// How a target is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The median ratio to the baseline is at least this.
    RatioAtLeast(f64),
    /// The median value is at most this (in the figure's unit).
    AtMost(f64),
    /// The median value is at least this (in the figure's unit).
    AtLeast(f64),
}

impl Goal {
    fn text(self, unit: &str) -> String {
        match self {
            Goal::RatioAtLeast(r) => format!("ratio ≥ {r:.2}"),
            Goal::AtMost(v) => format!("≤ {} {unit}", format_value(v)),
            Goal::AtLeast(v) => format!("≥ {} {unit}", format_value(v)),
        }
    }

    fn met(self, value: &Stats, ratio: Option<&Stats>) -> Option<bool> {
        match self {
            Goal::RatioAtLeast(r) => ratio.map(|s| s.median >= r),
            Goal::AtMost(v) => Some(value.median <= v),
            Goal::AtLeast(v) => Some(value.median >= v),
        }
    }
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Stable identifier, `<family>.<what>`.
    pub id: String,
    /// The family (`--only` name) it belongs to.
    pub family: String,
    /// What was measured, for people.
    pub name: String,
    /// Unit of the values.
    pub unit: String,
    /// Which direction is good.
    pub better: Better,
    /// The measured values.
    #[serde(flatten)]
    pub stats: Stats,
    /// The same-run baseline, if the figure has one.
    pub baseline: Option<Baseline>,
    /// Per-run speed relative to the baseline (see the module docs).
    pub ratio: Option<Stats>,
    /// The target, if any.
    pub target: Option<Target>,
    /// How it was measured, caveats.
    pub notes: Vec<String>,
}

/// Collects the runs of one figure (and of its baseline) and builds the [`Figure`].
#[derive(Debug, Clone)]
pub struct Series {
    id: String,
    family: String,
    name: String,
    unit: String,
    better: Better,
    values: Vec<f64>,
    baseline: Option<(String, String, Vec<f64>)>,
    goal: Option<Goal>,
    notes: Vec<String>,
}

impl Series {
    /// A figure `family.key` without baseline.
    pub fn new(
        family: &str,
        key: &str,
        name: impl Into<String>,
        unit: &str,
        better: Better,
    ) -> Self {
        Series {
            id: format!("{family}.{key}"),
            family: family.to_string(),
            name: name.into(),
            unit: unit.to_string(),
            better,
            values: Vec::new(),
            baseline: None,
            goal: None,
            notes: Vec::new(),
        }
    }

    /// Declares the baseline measured next to every run.
    pub fn baseline(mut self, id: &str, name: impl Into<String>) -> Self {
        self.baseline = Some((id.to_string(), name.into(), Vec::new()));
        self
    }

    /// Sets the target.
    pub fn goal(mut self, goal: Goal) -> Self {
        self.goal = Some(goal);
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds a note to an existing series.
    pub fn add_note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Records one run of the figure.
    pub fn push(&mut self, value: f64) {
        self.values.push(value);
    }

    /// Records one run of the baseline.
    pub fn push_baseline(&mut self, value: f64) {
        if let Some((_, _, values)) = &mut self.baseline {
            values.push(value);
        }
    }

    /// Records one run of both.
    pub fn push_pair(&mut self, value: f64, baseline: f64) {
        self.push(value);
        self.push_baseline(baseline);
    }

    /// Number of runs recorded so far.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no run was recorded.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The figure, or `None` when no run produced a value.
    pub fn finish(self) -> Option<Figure> {
        let stats = Stats::of(self.values.clone())?;
        let baseline = self.baseline.as_ref().and_then(|(id, name, values)| {
            Some(Baseline {
                id: id.clone(),
                name: name.clone(),
                unit: self.unit.clone(),
                stats: Stats::of(values.clone())?,
            })
        });
        let ratio = baseline.as_ref().and_then(|b| {
            let speed = |value: f64, base: f64| match self.better {
                Better::Higher => value / base,
                Better::Lower => base / value,
            };
            if b.stats.runs.len() == self.values.len() {
                Stats::of(
                    self.values
                        .iter()
                        .zip(&b.stats.runs)
                        .map(|(&v, &base)| speed(v, base))
                        .collect(),
                )
            } else {
                // Runs that failed on one side only: the medians are all that pair up.
                Stats::of(vec![speed(stats.median, b.stats.median)])
            }
        });
        let target = self.goal.map(|goal| Target {
            text: goal.text(&self.unit),
            met: goal.met(&stats, ratio.as_ref()),
        });
        Some(Figure {
            id: self.id,
            family: self.family,
            name: self.name,
            unit: self.unit,
            better: self.better,
            stats,
            baseline,
            ratio,
            target,
            notes: self.notes,
        })
    }
}

/// A family that did not run, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The family.
    pub family: String,
    /// Why.
    pub reason: String,
}

/// The machine the bench ran on, as far as the process can tell.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    /// CPUs available to the process.
    pub cpus: usize,
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// `MemTotal` from `/proc/meminfo`, bytes.
    pub memory_bytes: Option<u64>,
    /// Kernel release.
    pub kernel: Option<String>,
    /// Load averages (1, 5, 15 min) when the bench started.
    pub load_at_start: Option<[f64; 3]>,
    /// Load averages when it ended.
    pub load_at_end: Option<[f64; 3]>,
    /// Whether this binary was built with optimisations.
    pub release_build: bool,
}

impl Machine {
    /// Reads what Linux exposes; fields stay empty elsewhere.
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string());
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kib| kib.parse::<u64>().ok())
            })
            .map(|kib| kib * 1024);
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_bytes,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string()),
            load_at_start: load_average(),
            load_at_end: None,
            release_build: !cfg!(debug_assertions),
        }
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Everything one `etp bench` produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`JSON_VERSION`].
    pub version: u32,
    /// Version of the `etp` binary.
    pub etp_version: String,
    /// Start time, seconds since the Unix epoch.
    pub started_unix: u64,
    /// Wall-clock duration of the whole bench, seconds.
    pub duration_secs: f64,
    /// The command line that reproduces the run.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// What was benchmarked: `in-process` or the `--url`.
    pub server: String,
    /// The effective settings.
    pub settings: serde_json::Value,
    /// The figures, in the order they were measured.
    pub figures: Vec<Figure>,
    /// Families not run, with the reason.
    pub skipped: Vec<Skipped>,
    /// Families that failed part-way, with the error (their finished figures are kept).
    pub failed: Vec<Skipped>,
    /// Wall-clock seconds each family took, setup included.
    pub family_seconds: std::collections::BTreeMap<String, f64>,
}

impl Report {
    /// Adds a finished series (ignored when it has no run).
    pub fn add(&mut self, series: Series) {
        if let Some(figure) = series.finish() {
            self.figures.push(figure);
        }
    }

    /// Records a family that was not run.
    pub fn skip(&mut self, family: &str, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            family: family.to_string(),
            reason: reason.into(),
        });
    }

    /// Records a family that failed.
    pub fn fail(&mut self, family: &str, reason: impl Into<String>) {
        self.failed.push(Skipped {
            family: family.to_string(),
            reason: reason.into(),
        });
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report as one plain-text table with notes below it.
    pub fn to_table(&self) -> String {
        let header = [
            "figure",
            "median",
            "min – max",
            "unit",
            "baseline (same run)",
            "median",
            "ratio",
            "min – max",
            "target",
        ];
        let mut rows: Vec<[String; 9]> = Vec::new();
        for f in &self.figures {
            let (base_name, base_median) = match &f.baseline {
                Some(b) => (b.name.clone(), format_value(b.stats.median)),
                None => (String::new(), String::new()),
            };
            let (ratio, ratio_range) = match &f.ratio {
                Some(r) => (
                    format_ratio(r.median),
                    format!("{} – {}", format_ratio(r.min), format_ratio(r.max)),
                ),
                None => (String::new(), String::new()),
            };
            let target = match &f.target {
                Some(t) => match t.met {
                    Some(true) => format!("{} met", t.text),
                    Some(false) => format!("{} MISSED", t.text),
                    None => t.text.clone(),
                },
                None => String::new(),
            };
            rows.push([
                f.name.clone(),
                format_value(f.stats.median),
                format!(
                    "{} – {}",
                    format_value(f.stats.min),
                    format_value(f.stats.max)
                ),
                f.unit.clone(),
                base_name,
                base_median,
                ratio,
                ratio_range,
                target,
            ]);
        }
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let right_aligned = [false, true, true, false, false, true, true, true, false];
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i > 0 {
                    out.push_str("  ");
                }
                if right_aligned[i] {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                } else {
                    out.push_str(cell);
                    if i + 1 < cells.len() {
                        out.push_str(&" ".repeat(pad));
                    }
                }
            }
            out.trim_end().to_string()
        };
        let mut out = String::new();
        let _ = writeln!(out, "{}", line(&header.map(String::from)));
        let _ = writeln!(
            out,
            "{}",
            "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
        );
        for row in &rows {
            let _ = writeln!(out, "{}", line(row));
        }
        let _ = writeln!(
            out,
            "\nratio = speed relative to the baseline measured in the same run (figure / baseline for \
             throughput, baseline / figure for latency), median over runs; values are medians of {} run(s).",
            self.settings
                .get("runs")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        );
        let mut notes: Vec<String> = Vec::new();
        for f in &self.figures {
            for n in &f.notes {
                let line = format!("{}: {n}", f.id);
                if !notes.contains(&line) {
                    notes.push(line);
                }
            }
        }
        if !notes.is_empty() {
            let _ = writeln!(out, "\nNotes:");
            for n in notes {
                let _ = writeln!(out, "  {n}");
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "\nSkipped:");
            for s in &self.skipped {
                let _ = writeln!(out, "  {}: {}", s.family, s.reason);
            }
        }
        if !self.failed.is_empty() {
            let _ = writeln!(out, "\nFailed:");
            for s in &self.failed {
                let _ = writeln!(out, "  {}: {}", s.family, s.reason);
            }
        }
        out
    }
}

/// A ratio: two decimals, or two significant digits below 0.1 (pyetp is far below 1).
pub fn format_ratio(r: f64) -> String {
    if !r.is_finite() || r == 0.0 || r.abs() >= 0.1 {
        format!("{r:.2}")
    } else {
        let decimals = (1.0 - r.abs().log10().floor()) as usize;
        format!("{r:.decimals$}")
    }
}

/// A number with about three significant digits and thousands separators.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let rounded = v.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if rounded < 0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_median_min_max() {
        let s = Stats::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(s.runs, vec![3.0, 1.0, 2.0]);
        let even = Stats::of(vec![4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(even.median, 2.5);
        assert!(Stats::of(vec![]).is_none());
        assert!(Stats::of(vec![f64::NAN]).is_none());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn ratios_are_speed_relative_to_the_baseline_per_run() {
        let mut throughput = Series::new("x", "t", "t", "MB/s", Better::Higher)
            .baseline("bare", "bare")
            .goal(Goal::RatioAtLeast(0.7));
        throughput.push_pair(50.0, 100.0);
        throughput.push_pair(90.0, 100.0);
        throughput.push_pair(80.0, 100.0);
        let f = throughput.finish().unwrap();
        let r = f.ratio.unwrap();
        assert_eq!((r.median, r.min, r.max), (0.8, 0.5, 0.9));
        assert_eq!(f.target.unwrap().met, Some(true));

        let mut latency = Series::new("x", "l", "l", "ms", Better::Lower)
            .baseline("raw", "raw")
            .goal(Goal::AtMost(100.0));
        latency.push_pair(200.0, 100.0);
        let f = latency.finish().unwrap();
        assert_eq!(f.ratio.unwrap().median, 0.5);
        assert_eq!(f.target.unwrap().met, Some(false));
    }

    #[test]
    fn table_and_json_carry_every_figure() {
        let mut report = Report {
            version: JSON_VERSION,
            etp_version: "0".into(),
            started_unix: 0,
            duration_secs: 1.0,
            command: "etp bench".into(),
            machine: Machine::default(),
            server: "in-process".into(),
            settings: serde_json::json!({"runs": 1}),
            figures: Vec::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            family_seconds: Default::default(),
        };
        let mut s = Series::new("ping", "rtt", "Ping round trip", "µs", Better::Lower)
            .baseline("bare.rtt", "bare echo")
            .note("one session");
        s.push_pair(40.0, 20.0);
        report.add(s);
        report.add(Series::new(
            "ping",
            "empty",
            "never ran",
            "x",
            Better::Higher,
        ));
        report.skip("memory", "needs a local server");
        let table = report.to_table();
        assert!(table.contains("Ping round trip"), "{table}");
        assert!(table.contains("0.50"), "{table}");
        assert!(table.contains("ping.rtt: one session"), "{table}");
        assert!(table.contains("memory: needs a local server"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["figures"].as_array().unwrap().len(), 1);
        assert_eq!(json["figures"][0]["median"], 40.0);
        assert_eq!(json["figures"][0]["baseline"]["median"], 20.0);
        assert_eq!(json["figures"][0]["ratio"]["median"], 0.5);
    }

    #[test]
    fn value_formatting() {
        assert_eq!(format_value(1_234_567.4), "1,234,567");
        assert_eq!(format_value(-1234.0), "-1,234");
        assert_eq!(format_value(123.4), "123");
        assert_eq!(format_value(12.34), "12.3");
        assert_eq!(format_value(1.234), "1.23");
        assert_eq!(format_value(0.1234), "0.123");
        assert_eq!(format_ratio(0.7512), "0.75");
        assert_eq!(format_ratio(0.0512), "0.051");
        assert_eq!(format_ratio(0.00049), "0.00049");
        assert_eq!(format_ratio(2.0), "2.00");
    }
}
