//! The operator's side of the command line: `--drain-timeout`, the check that refuses a
//! command line that would ignore a flag, and clap's own parse errors rewritten into the
//! one `error: <flag>: <why>` style of every other bad value.

use super::*;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::time::Duration;

/// The drain time when `--drain-timeout` is not given: what the stop always allowed.
pub const DEFAULT_DRAIN_SECS: u64 = 2;

#[derive(clap::Args, Debug)]
pub(super) struct OpsFlags {
    /// Seconds a stopping server (SIGTERM, SIGINT, SIGUSR1, `shutdown`) lets requests in
    /// flight finish and the twin acknowledge the last writes before it exits anyway.
    #[arg(long = "drain-timeout", value_name = "SECS", default_value_t = DEFAULT_DRAIN_SECS)]
    drain_timeout: u64,
}

/// What the operator's flags decided.
#[derive(Clone, Debug)]
pub struct Ops {
    /// How long the stop waits for connections mid-request and for the twin's acks.
    pub drain_timeout: Duration,
}

impl Default for Ops {
    fn default() -> Self {
        Ops {
            drain_timeout: Duration::from_secs(DEFAULT_DRAIN_SECS),
        }
    }
}

pub(super) fn ops(cli: &Cli) -> Result<Ops, String> {
    if cli.ops.drain_timeout > 3600 {
        return Err("error: --drain-timeout: must be between 0 and 3600 seconds".into());
    }
    Ok(Ops {
        drain_timeout: Duration::from_secs(cli.ops.drain_timeout),
    })
}

/// Refuses a command line whose flags would be silently ignored. (One that serves nothing,
/// `-p 0` alone, runs as memcached runs it, whose t/issue_67 starts it so; the startup line
/// warns.)
pub(super) fn check(cli: &Cli) -> Result<(), String> {
    if cli.twin.is_none() {
        let unused = [
            (cli.repl_secret_file.is_some(), "--repl-secret-file"),
            (cli.repl_listen.is_some(), "--repl-listen"),
            (cli.repl_insecure_listen, "--repl-insecure-listen"),
        ];
        if let Some((_, flag)) = unused.iter().find(|(given, _)| *given) {
            return Err(format!(
                "error: {flag}: only has an effect with --twin HOST:PORT"
            ));
        }
    }
    Ok(())
}

/// One line in the style of every other bad value, for clap's own errors (a value that
/// does not parse, an unknown flag).
pub(super) fn usage_error(e: &clap::Error) -> String {
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let (Some(arg), Some(value)) = (
                text(ContextKind::InvalidArg),
                text(ContextKind::InvalidValue),
            ) else {
                return clap_line(e);
            };
            let why = e
                .to_string()
                .lines()
                .next()
                .and_then(|l| l.rsplit_once("': ").map(|(_, why)| why.to_string()))
                .unwrap_or_else(|| "not a valid value".into());
            format!("error: {}: '{value}' is not valid ({why})", flag_name(&arg))
        }
        ErrorKind::UnknownArgument => match text(ContextKind::InvalidArg) {
            Some(arg) => format!("error: {arg}: no such flag (--help lists them)"),
            None => clap_line(e),
        },
        _ => clap_line(e),
    }
}

/// "--port <PORT>" -> "-p", the letter memcached's users know; a long name where there is
/// no letter.
fn flag_name(arg: &str) -> String {
    let long = arg.split_whitespace().next().unwrap_or(arg);
    let cmd = <Cli as clap::CommandFactory>::command();
    let short = long.strip_prefix("--").and_then(|name| {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(name))
            .and_then(|a| a.get_short())
    });
    match short {
        Some(c) => format!("-{c}"),
        None => long.to_string(),
    }
}

fn clap_line(e: &clap::Error) -> String {
    first_line(&e.to_string())
}

#[cfg(test)]
mod tests {
    use crate::config::tests::run;

    #[test]
    fn bad_numbers_name_the_flag_in_one_style() {
        for (args, want) in [
            (&["-m", "-5"][..], "error: -m: memory limit must be"),
            (
                &["-p", "99999"],
                "error: -p: port must be between -1 and 65535",
            ),
            (&["-p", "x"], "error: -p: 'x' is not valid (invalid digit"),
            (&["-c", "-1"], "error: -c: '-1' is not valid"),
            (
                &["--drain-timeout", "-1"],
                "error: --drain-timeout: '-1' is not valid",
            ),
            (&["--bogus"], "error: --bogus: no such flag"),
        ] {
            let e = run(args).unwrap_err();
            assert!(e.starts_with(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn twin_flags_without_a_twin_are_refused() {
        let e = run(&["--repl-secret-file", "/etc/hostname"]).unwrap_err();
        assert_eq!(
            e,
            "error: --repl-secret-file: only has an effect with --twin HOST:PORT"
        );
        assert!(run(&["--repl-insecure-listen"]).is_err());
    }

    #[test]
    fn port_zero_is_fine_with_another_listener() {
        assert!(run(&["-p", "0", "-U", "11311"]).is_ok());
        assert!(run(&["-p", "0", "-s", "/tmp/corecached-test.sock"]).is_ok());
    }

    #[test]
    fn drain_timeout_defaults_to_two_seconds() {
        let c = run(&[]).unwrap();
        assert_eq!(c.ops.drain_timeout.as_secs(), 2);
        let c = run(&["--drain-timeout", "30"]).unwrap();
        assert_eq!(c.ops.drain_timeout.as_secs(), 30);
    }
}
