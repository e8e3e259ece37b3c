//! `jutsu status --watch`: the status as a full-screen terminal view, redrawn every second,
//! with the quotes read again every `watch.quote_interval_s` (the Schwab client's own rate
//! limiter still applies). `q` (or Esc, or Ctrl-C) quits and gives the terminal back as it
//! was. Read-only, like `status`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use ratatui::Frame;

use super::status::{self, Market, Snapshot};
use crate::brokers::sources::SharedClock;
use crate::config::Loaded;
use crate::domain::portfolio::cents;
use crate::support::error::{exit, Error, Result};

/// Runs the view until the user quits.
pub(super) fn run(loaded: &Loaded, clock: SharedClock) -> Result<u8> {
    if !std::io::stdout().is_terminal() {
        return Err(Error::Usage(
            "status --watch needs a terminal (it draws a full-screen view); use `jutsu status` \
             or `jutsu status --json` in scripts"
                .into(),
        ));
    }
    let interval = Duration::from_secs(loaded.config.watch.quote_interval_s.max(1));
    let mut market = Market::read(loaded, &clock)?;
    let mut snapshot = status::snapshot(loaded, &market, &clock)?;
    let mut terminal = ratatui::init();
    let started = Instant::now();
    let mut last_quotes = Instant::now();
    let mut problem: Option<String> = None;
    let outcome = loop {
        if last_quotes.elapsed() >= interval {
            last_quotes = Instant::now();
            match market
                .refresh(loaded, &clock)
                .and_then(|_| status::snapshot(loaded, &market, &clock))
            {
                Ok(s) => {
                    snapshot = s;
                    problem = None;
                }
                Err(e) => problem = Some(crate::support::secret::redact(&e.to_string())),
            }
        }
        let beat = started.elapsed().as_secs();
        if let Err(e) = terminal.draw(|f| draw(f, &snapshot, beat, problem.as_deref())) {
            break Err(Error::io("drawing on", "the terminal", e));
        }
        // Waiting for a key is the view's only pause: a second, or less when one comes.
        match event::poll(Duration::from_secs(1)) {
            Ok(true) => match event::read() {
                Ok(Event::Key(k))
                    if k.kind == KeyEventKind::Press && quits(k.code, k.modifiers) =>
                {
                    break Ok(exit::OK)
                }
                Ok(_) => {}
                Err(e) => break Err(Error::io("reading", "the terminal", e)),
            },
            Ok(false) => {}
            Err(e) => break Err(Error::io("reading", "the terminal", e)),
        }
    };
    ratatui::restore();
    outcome
}

fn quits(code: KeyCode, modifiers: KeyModifiers) -> bool {
    matches!(code, KeyCode::Char('q') | KeyCode::Esc)
        || (code == KeyCode::Char('c') && modifiers.contains(KeyModifiers::CONTROL))
}

fn draw(f: &mut Frame<'_>, s: &Snapshot, beat: u64, problem: Option<&str>) {
    let rows = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(5),
        Constraint::Length(8),
        Constraint::Length(5),
    ])
    .split(f.area());
    let countdown = s.next_run_in_s.map_or("-".into(), |secs| {
        format!("{}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
    });
    let header = format!(
        "jutsu status  mode {}  {}  next run {} (in {countdown})  heartbeat {}",
        s.mode,
        s.as_of,
        s.next_run.as_deref().unwrap_or("-"),
        if beat % 2 == 0 { "*" } else { "o" }
    );
    f.render_widget(
        Paragraph::new(header).block(Block::default().borders(Borders::ALL).title("jutsu")),
        rows[0],
    );
    f.render_widget(positions(s), rows[1]);
    let preview: Vec<Line> =
        s.preview
            .as_ref()
            .map_or(vec![Line::from("no preview: not enough history")], |v| {
                status::preview_lines(v)
                    .into_iter()
                    .map(|l| Line::from(l.trim_start().to_string()))
                    .collect()
            });
    f.render_widget(
        Paragraph::new(preview).block(
            Block::default()
                .borders(Borders::ALL)
                .title("regime preview (if the session closed now)"),
        ),
        rows[2],
    );
    let mut footer = vec![
        Line::from(format!(
            "last run {}   last validation {}   token {}",
            s.last_run.as_ref().map_or("none".into(), |r| format!(
                "{} {} at {}, {} order(s)",
                r.session, r.outcome, r.started, r.orders
            )),
            s.last_validation
                .as_ref()
                .map_or("none".into(), |(d, v)| format!("{d} {v}")),
            s.token_hours_left
                .map_or("-".into(), |h| format!("{h} h left"))
        )),
        Line::from(format!(
            "data: quotes {} old, last bar {}   {}",
            crate::domain::text::readable_age(s.quote_age_s),
            s.last_bar.map_or("-".into(), |d| d.to_string()),
            problem.map_or("q quits".to_string(), |p| format!(
                "quotes not refreshed: {p}"
            ))
        )),
    ];
    // The footer holds three lines inside its border: the stale-quote warning is the third.
    footer.extend(s.quote_warning.iter().map(|w| Line::from(w.clone())));
    f.render_widget(
        Paragraph::new(footer).block(Block::default().borders(Borders::ALL)),
        rows[3],
    );
}

fn positions(s: &Snapshot) -> Table<'static> {
    let mut rows: Vec<Row> = s
        .positions
        .iter()
        .map(|p| {
            Row::new(vec![
                p.symbol.clone(),
                p.shares.normalize().to_string(),
                p.price.to_string(),
                cents(p.value),
                format!("{}%", p.weight_pct),
                p.target_pct.map_or("-".into(), |t| format!("{t}%")),
            ])
        })
        .collect();
    rows.push(Row::new(vec![
        "cash".to_string(),
        String::new(),
        String::new(),
        cents(s.cash),
    ]));
    let title = format!(
        "account: equity {}  day P&L {}  exposure {}%  drawdown {}",
        cents(s.equity),
        cents(s.day_pnl),
        s.gross_exposure_pct,
        s.drawdown_pct.map_or("-".into(), |d| format!("{d}%"))
    );
    Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Length(14),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
    )
    .header(
        Row::new(vec![
            "symbol", "shares", "price", "value", "weight", "target",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(Block::default().borders(Borders::ALL).title(title))
}
