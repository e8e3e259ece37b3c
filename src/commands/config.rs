//! `jutsu config check|show`.

use std::path::Path;

use crate::commands::cli::ConfigAction;
use crate::config;
use crate::support::error::{exit, Error, Result};

pub(super) fn run(action: &ConfigAction, path: &Path) -> Result<u8> {
    let env = |name: &str| std::env::var(name).ok();
    match action {
        ConfigAction::Check => {
            let loaded = config::load_for_check(path, &env)?;
            let secrets = loaded.config.secrets(&env);
            tracing::debug!(?secrets, "secrets read from the environment");
            println!(
                "{}: OK (mode {}, strategy warmup {} bars)",
                path.display(),
                loaded.config.mode.as_str(),
                loaded.config.strategy.parameters.warmup_bars()
            );
            println!("{}", creep_line(&loaded.config.strategy));
            Ok(exit::OK)
        }
        ConfigAction::Show => {
            let loaded = config::load(path)?;
            let secrets = loaded.config.secrets(&env);
            tracing::debug!(?secrets, "secrets read from the environment");
            let yaml = serde_norway::to_string(&loaded.config)
                .map_err(|e| Error::Other(format!("cannot show the configuration: {e}")))?;
            println!("# {} (effective, with defaults)", path.display());
            print!("{yaml}");
            println!("# secrets (values never shown)");
            let c = &loaded.config;
            let mut names = vec![
                c.schwab.app_key_env.as_str(),
                c.schwab.app_secret_env.as_str(),
            ];
            if let Some(p) = &c.alerts.email.password_env {
                names.push(p);
            }
            if c.alerts.sms.enabled {
                names.push(&c.alerts.sms.auth_token_env);
            }
            for name in names {
                let state = match std::env::var(name) {
                    Ok(v) if !v.is_empty() => "set, [REDACTED]",
                    _ => "not set",
                };
                println!("#   {name}: {state}");
            }
            Ok(exit::OK)
        }
    }
}

/// What `config check` and `health` say of the strategy parameters against the published
/// v3.5b ("Titan") set: that they are it, or every difference with both values.
pub(super) fn creep_line(strategy: &crate::config::Strategy) -> String {
    let creep = strategy.creep();
    if creep.is_empty() {
        return "strategy parameters: the published v3.5b (Titan) set".into();
    }
    let listed: Vec<String> = creep.iter().map(ToString::to_string).collect();
    format!(
        "strategy parameters: {} differ from the published v3.5b (Titan) set: {}",
        creep.len(),
        listed.join(", ")
    )
}
