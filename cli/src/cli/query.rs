//! `twinstore query "SELECT ..."`: runs a query and prints its rows.
//!
//! Rows are printed like any list of documents: pretty, one after another (text), or one JSON
//! array (`--output json`). One page is printed unless `--all` is given, which follows the
//! continuation tokens to the end; `--continuation TOKEN` prints the page after a previous one.
//! In text mode a summary goes to stderr: the number of rows, the query charge, the entries the
//! server read, and the token of the next page when there is one (stdout stays the rows alone).

use super::output::CliResult;
use super::{ConsistencyArg, Ctx};
use crate::cli::OutputFormat;
use clap::Args;
use twinstore::client::PageRequest;

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The query, e.g. "SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 'room-101'".
    query: String,
    /// The most rows per page (1 to 1000; the server's default is 1000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: Option<u32>,
    /// Follow the continuation tokens and print every row.
    #[arg(long, conflicts_with = "continuation")]
    all: bool,
    /// Print the page after the one that returned this token.
    #[arg(long, value_name = "TOKEN")]
    continuation: Option<String>,
    /// How fresh the result must be.
    #[arg(long, value_enum, default_value_t)]
    consistency: ConsistencyArg,
}

pub(crate) async fn run(ctx: Ctx, args: QueryArgs) -> CliResult {
    let Ctx { client, printer } = ctx;
    let request = PageRequest {
        page_size: args.page_size.unwrap_or(0),
        continuation_token: args.continuation.clone(),
        consistency: args.consistency.into(),
    };
    let (rows, charge, scanned, next) = if args.all {
        let (rows, pages) = client.query_all(&args.query, &request).await?;
        let charge: f64 = pages.iter().map(|p| p.query_charge).sum();
        let scanned: u64 = pages.iter().map(|p| p.rows_scanned).sum();
        (rows, charge, scanned, None)
    } else {
        let page = client.query(&args.query, &request).await?;
        (page.rows, page.query_charge, page.rows_scanned, page.continuation_token)
    };
    printer.list(&rows);
    if printer.format == OutputFormat::Text {
        let more = match &next {
            Some(token) => format!("; more rows: --continuation {token} (or --all)"),
            None => String::new(),
        };
        let n = rows.len();
        let s = if n == 1 { "" } else { "s" };
        eprintln!("{n} row{s}, query charge {charge:.2}, {scanned} entries read{more}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: QueryArgs,
    }

    #[test]
    fn arguments() {
        let cli =
            Cli::try_parse_from(["q", "SELECT * FROM DIGITALTWINS", "--page-size", "10", "--all"])
                .unwrap();
        assert_eq!((cli.args.page_size, cli.args.all), (Some(10), true));
        assert!(Cli::try_parse_from(["q", "SELECT 1", "--page-size", "0"]).is_err());
        assert!(Cli::try_parse_from(["q", "SELECT 1", "--page-size", "1001"]).is_err());
        assert!(Cli::try_parse_from(["q", "SELECT 1", "--all", "--continuation", "t"]).is_err());
    }
}
