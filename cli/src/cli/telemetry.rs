//! `twinstore telemetry send`: publish telemetry for a twin.
//!
//! Telemetry is validated and turned into an event, never stored (as in ADT). ADT requires a
//! `Message-Id` that is unique per twin so duplicates can be dropped; a person typing a command
//! should not have to invent one, so the CLI generates it unless `--message-id` is given (give one
//! when a script may resend the same reading).

use super::Ctx;
use super::input::json_arg;
use super::output::CliResult;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum TelemetryCommand {
    /// Publish a telemetry message (a JSON object) for a twin or one of its components.
    Send {
        /// The twin id.
        id: String,
        /// The telemetry payload: literal, @file or - (stdin).
        json: String,
        /// The component that produced it.
        #[arg(long)]
        component: Option<String>,
        /// The message id (unique per twin); generated when absent.
        #[arg(long)]
        message_id: Option<String>,
        /// When the telemetry was produced (RFC 3339).
        #[arg(long)]
        source_time: Option<String>,
    },
}

pub(crate) async fn run(ctx: Ctx, cmd: TelemetryCommand) -> CliResult {
    let Ctx { client, printer } = ctx;
    let TelemetryCommand::Send { id, json, component, message_id, source_time } = cmd;
    let body = json_arg(&json, "telemetry")?;
    let message_id = message_id.unwrap_or_else(generated_message_id);
    client
        .publish_telemetry(&id, component.as_deref(), &message_id, &body, source_time.as_deref())
        .await?;
    printer.ack(
        &format!("telemetry sent for twin '{id}' (message id {message_id})"),
        serde_json::json!({ "sent": true, "id": id, "messageId": message_id }),
    );
    Ok(())
}

/// A message id that does not repeat: the time in nanoseconds and the process id.
fn generated_message_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("cli-{nanos:x}-{}", std::process::id())
}
