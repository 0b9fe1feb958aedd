//! `twinstore model ...`: DTDL models.
//!
//! `add` sends everything it is given as one batch because ADT's model upload is all or nothing
//! and an Interface used as a component must be uploaded together with the Interface using it; so
//! `twinstore model add scripts/sample/models` uploads a whole directory in one call. Models are
//! immutable: to change one, upload a new version (`;2`), move twins over, then decommission and
//! delete the old one.

use super::input::models_batch;
use super::output::CliResult;
use super::{ConsistencyArg, Ctx};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Upload DTDL Interfaces, all in one batch: files, directories of *.json, @file, - or JSON.
    Add {
        /// Files, directories, `@file`, `-` (stdin) or literal JSON (an Interface or an array).
        #[arg(required = true, value_name = "FILE_OR_JSON")]
        inputs: Vec<String>,
    },
    /// Read a model.
    Get {
        /// The model id (a DTMI such as dtmi:example:Room;1).
        id: String,
        /// Include the DTDL definition under "model".
        #[arg(long)]
        definition: bool,
        /// How fresh the read must be.
        #[arg(long, value_enum, default_value_t)]
        consistency: ConsistencyArg,
    },
    /// List models: all of them, or the given ones and everything they depend on.
    List {
        /// Only this model and its dependencies (repeatable).
        #[arg(long = "dependencies-for", value_name = "ID")]
        dependencies_for: Vec<String>,
        /// Include the DTDL definitions under "model".
        #[arg(long)]
        definition: bool,
        /// How fresh the read must be.
        #[arg(long, value_enum, default_value_t)]
        consistency: ConsistencyArg,
    },
    /// Decommission a model: existing twins stay, no new twin may use it.
    Decommission {
        /// The model id.
        id: String,
    },
    /// Delete a model no other model references.
    Delete {
        /// The model id.
        id: String,
    },
}

pub(crate) async fn run(ctx: Ctx, cmd: ModelCommand) -> CliResult {
    let Ctx { client, printer } = ctx;
    match cmd {
        ModelCommand::Add { inputs } => {
            let batch = models_batch(&inputs)?;
            let r = client.add_models(&batch).await?;
            printer.list(&r.model_json);
        }
        ModelCommand::Get { id, definition, consistency } => {
            let r = client.get_model(&id, definition, consistency.into()).await?;
            printer.document(&r.model_json);
        }
        ModelCommand::List { dependencies_for, definition, consistency } => {
            let all =
                client.list_models_all(&dependencies_for, definition, consistency.into()).await?;
            printer.list(&all);
        }
        ModelCommand::Decommission { id } => {
            let r = client.decommission_model(&id).await?;
            printer.document(&r.model_json);
        }
        ModelCommand::Delete { id } => {
            let r = client.delete_model(&id).await?;
            printer.deleted(&format!("model '{id}'"), id.into(), r.index);
        }
    }
    Ok(())
}
