//! `twinstore rel ...`: relationships between twins.
//!
//! A relationship lives under its source twin (`SOURCE REL_ID` names it, as ADT's
//! `/digitaltwins/{source}/relationships/{relId}` does), so every subcommand takes the source id
//! first. `list` and `incoming` follow all pages, so a script sees the whole edge set at once.

use super::input::json_arg;
use super::output::CliResult;
use super::twin::conditions;
use super::{ConsistencyArg, Ctx};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum RelCommand {
    /// Create or replace a relationship: '{"$targetId":..,"$relationshipName":..,<properties>}'.
    Put {
        /// The source twin id.
        source: String,
        /// The relationship id (unique within the source twin).
        rel_id: String,
        /// The relationship document: literal, @file or - (stdin).
        json: String,
        /// Only if the relationship currently has this ETag (`*`: only if it exists).
        #[arg(long, value_name = "ETAG", conflicts_with = "if_none_match")]
        if_match: Option<String>,
        /// Only if the relationship does not exist yet.
        #[arg(long)]
        if_none_match: bool,
    },
    /// Read a relationship.
    Get {
        /// The source twin id.
        source: String,
        /// The relationship id.
        rel_id: String,
        /// How fresh the read must be.
        #[arg(long, value_enum, default_value_t)]
        consistency: ConsistencyArg,
    },
    /// Update a relationship's properties with a JSON Patch.
    Patch {
        /// The source twin id.
        source: String,
        /// The relationship id.
        rel_id: String,
        /// A JSON array of operations.
        patch: String,
        /// Only if the relationship currently has this ETag.
        #[arg(long, value_name = "ETAG")]
        if_match: Option<String>,
    },
    /// Delete a relationship.
    Delete {
        /// The source twin id.
        source: String,
        /// The relationship id.
        rel_id: String,
        /// Only if the relationship currently has this ETag.
        #[arg(long, value_name = "ETAG")]
        if_match: Option<String>,
    },
    /// List a twin's outgoing relationships.
    List {
        /// The source twin id.
        source: String,
        /// Only relationships with this name.
        #[arg(long)]
        name: Option<String>,
        /// How fresh the read must be.
        #[arg(long, value_enum, default_value_t)]
        consistency: ConsistencyArg,
    },
    /// List the relationships that point at a twin.
    Incoming {
        /// The target twin id.
        twin: String,
        /// How fresh the read must be.
        #[arg(long, value_enum, default_value_t)]
        consistency: ConsistencyArg,
    },
}

pub(crate) async fn run(ctx: Ctx, cmd: RelCommand) -> CliResult {
    let Ctx { client, printer } = ctx;
    match cmd {
        RelCommand::Put { source, rel_id, json, if_match, if_none_match } => {
            let body = json_arg(&json, "relationship")?;
            let r = client
                .put_relationship(&source, &rel_id, &body, conditions(if_match, if_none_match))
                .await?;
            printer.document(&r.relationship_json);
        }
        RelCommand::Get { source, rel_id, consistency } => {
            let r = client.get_relationship(&source, &rel_id, consistency.into()).await?;
            printer.document(&r.relationship_json);
        }
        RelCommand::Patch { source, rel_id, patch, if_match } => {
            let patch = json_arg(&patch, "patch")?;
            let r = client
                .patch_relationship(&source, &rel_id, &patch, conditions(if_match, false))
                .await?;
            printer.document(&r.relationship_json);
        }
        RelCommand::Delete { source, rel_id, if_match } => {
            let r =
                client.delete_relationship(&source, &rel_id, conditions(if_match, false)).await?;
            let what = format!("relationship '{rel_id}' of twin '{source}'");
            let id = serde_json::json!({ "sourceId": source, "relationshipId": rel_id });
            printer.deleted(&what, id, r.index);
        }
        RelCommand::List { source, name, consistency } => {
            let all =
                client.list_relationships_all(&source, name.as_deref(), consistency.into()).await?;
            printer.list(&all);
        }
        RelCommand::Incoming { twin, consistency } => {
            let all = client.list_incoming_relationships_all(&twin, consistency.into()).await?;
            printer.list(&all);
        }
    }
    Ok(())
}
