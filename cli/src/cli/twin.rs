//! `twinstore twin ...`: digital twins and their components.
//!
//! Each subcommand maps to one ADT twin operation (PUT / GET / PATCH / DELETE on
//! `/digitaltwins/{id}`, and GET / PATCH on a component). ADT's `If-Match` and `If-None-Match: *`
//! headers become `--if-match ETAG` and `--if-none-match`, so optimistic concurrency works from
//! shell scripts too: read the `$etag`, then write with `--if-match` and get `PreconditionFailed`
//! if someone else wrote in between.

use super::input::json_arg;
use super::output::CliResult;
use super::{ConsistencyArg, Ctx};
use clap::Subcommand;
use twinstore::client::Conditions;

#[derive(Debug, Subcommand)]
pub(crate) enum TwinCommand {
    /// Create or replace a twin. JSON: literal, @file or - (stdin); needs `$metadata.$model`.
    Put {
        /// The twin id.
        id: String,
        /// The twin document.
        json: String,
        /// Only if the twin currently has this ETag (`*`: only if it exists).
        #[arg(long, value_name = "ETAG", conflicts_with = "if_none_match")]
        if_match: Option<String>,
        /// Only if the twin does not exist yet.
        #[arg(long)]
        if_none_match: bool,
    },
    /// Read a twin.
    Get {
        /// The twin id.
        id: String,
        /// How fresh the read must be.
        #[arg(long, value_enum, default_value_t)]
        consistency: ConsistencyArg,
    },
    /// Update a twin with a JSON Patch (add / replace / remove operations).
    Patch {
        /// The twin id.
        id: String,
        /// A JSON array of operations, e.g. '[{"op":"replace","path":"/temperature","value":21}]'.
        patch: String,
        /// Only if the twin currently has this ETag.
        #[arg(long, value_name = "ETAG")]
        if_match: Option<String>,
    },
    /// Delete a twin (its relationships must be deleted first).
    Delete {
        /// The twin id.
        id: String,
        /// Only if the twin currently has this ETag.
        #[arg(long, value_name = "ETAG")]
        if_match: Option<String>,
    },
    /// Read or update one component of a twin.
    #[command(subcommand)]
    Component(ComponentCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ComponentCommand {
    /// Read a component.
    Get {
        /// The twin id.
        id: String,
        /// The component name.
        component: String,
        /// How fresh the read must be.
        #[arg(long, value_enum, default_value_t)]
        consistency: ConsistencyArg,
    },
    /// Update a component with a JSON Patch whose paths are relative to the component.
    Patch {
        /// The twin id.
        id: String,
        /// The component name.
        component: String,
        /// A JSON array of operations.
        patch: String,
        /// Only if the twin currently has this ETag.
        #[arg(long, value_name = "ETAG")]
        if_match: Option<String>,
    },
}

/// `--if-match` / `--if-none-match` as write conditions.
pub(crate) fn conditions(if_match: Option<String>, if_none_match: bool) -> Conditions {
    Conditions { if_match, if_none_match }
}

pub(crate) async fn run(ctx: Ctx, cmd: TwinCommand) -> CliResult {
    let Ctx { client, printer } = ctx;
    match cmd {
        TwinCommand::Put { id, json, if_match, if_none_match } => {
            let body = json_arg(&json, "twin")?;
            let r = client.put_twin(&id, &body, conditions(if_match, if_none_match)).await?;
            printer.document(&r.twin_json);
        }
        TwinCommand::Get { id, consistency } => {
            let r = client.get_twin(&id, consistency.into()).await?;
            printer.document(&r.twin_json);
        }
        TwinCommand::Patch { id, patch, if_match } => {
            let patch = json_arg(&patch, "patch")?;
            let r = client.patch_twin(&id, &patch, conditions(if_match, false)).await?;
            printer.document(&r.twin_json);
        }
        TwinCommand::Delete { id, if_match } => {
            let r = client.delete_twin(&id, conditions(if_match, false)).await?;
            printer.deleted(&format!("twin '{id}'"), id.into(), r.index);
        }
        TwinCommand::Component(ComponentCommand::Get { id, component, consistency }) => {
            let r = client.get_component(&id, &component, consistency.into()).await?;
            printer.document(&r.component_json);
        }
        TwinCommand::Component(ComponentCommand::Patch { id, component, patch, if_match }) => {
            let patch = json_arg(&patch, "patch")?;
            let r = client
                .patch_component(&id, &component, &patch, conditions(if_match, false))
                .await?;
            printer.document(&r.twin_json);
        }
    }
    Ok(())
}
