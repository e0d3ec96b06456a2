use std::process::ExitCode;

use clap::Parser;
use rollouts_dashboard::cli::{Cli, Command, ServeArgs};
use rollouts_dashboard::cluster::client::connect_all;
use rollouts_dashboard::telemetry;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let command = cli.into_command();
    let log_format = match &command {
        Command::Serve(a) => a.web.log_format,
        #[cfg(feature = "sim")]
        Command::Demo(a) => a.web.log_format,
        #[cfg(feature = "sim")]
        Command::Sim(_) => rollouts_dashboard::cli::LogFormat::Text,
    };
    telemetry::init(log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(command))
}

/// `--help` and `--version` print as usual; any other parse error is one
/// line and exit code 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let rendered = e.render().to_string();
    let line = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error: invalid arguments");
    eprintln!("{line} (see --help)");
    ExitCode::from(2)
}

async fn run(command: Command) -> ExitCode {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let result = match command {
        Command::Serve(args) => serve(args, shutdown).await,
        #[cfg(feature = "sim")]
        Command::Sim(args) => rollouts_dashboard::sim::command::run(&args, shutdown)
            .await
            .map_err(|e| e.to_string()),
        #[cfg(feature = "sim")]
        Command::Demo(args) => rollouts_dashboard::demo::run(&args, shutdown)
            .await
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs, shutdown: CancellationToken) -> Result<(), String> {
    let clusters = connect_all(&(&args.connect).into())
        .await
        .map_err(|e| e.to_string())?;
    rollouts_dashboard::serve::run_clusters(&clusters, &args.web, shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// Cancels `token` on Ctrl-C or SIGTERM.
async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    token.cancel();
}
