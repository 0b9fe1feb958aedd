//! Parser tests: every construct, and malformed queries with their positions and messages.

use super::*;
use serde_json::json;

fn q(text: &str) -> Query {
    parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The error message, without the code.
fn fails(text: &str) -> String {
    let e = parse(text).expect_err(text);
    e.message
}

fn pos(line: u32, column: u32) -> Pos {
    Pos { line, column }
}

fn name(text: &str, line: u32, column: u32) -> Name {
    Name { text: text.into(), pos: pos(line, column) }
}

fn path(parts: &[&str], column: u32) -> Path {
    Path { parts: parts.iter().map(|s| s.to_string()).collect(), pos: pos(1, column) }
}

fn filter(text: &str) -> Expr {
    q(text).filter.unwrap()
}

#[test]
fn select_star_from_twins() {
    let query = q("SELECT * FROM DIGITALTWINS");
    assert_eq!(
        query,
        Query {
            top: None,
            select: Select::All,
            from: From { collection: Collection::Twins, alias: None },
            joins: vec![],
            pattern: None,
            filter: None,
            order: vec![],
        }
    );
    // Keywords in any case; the alias keeps its case.
    let query = q("select * from digitalTwins t");
    assert_eq!(query.from.alias, Some(name("t", 1, 28)));
    assert_eq!(q("SELECT * FROM RELATIONSHIPS R").from.collection, Collection::Relationships);
}

#[test]
fn top_count_and_projections() {
    assert_eq!(q("SELECT TOP(5) FROM DIGITALTWINS").top, Some(5));
    assert_eq!(q("SELECT TOP(5) FROM DIGITALTWINS").select, Select::All);
    assert_eq!(q("SELECT TOP ( 3 ) * FROM DIGITALTWINS").top, Some(3));
    assert_eq!(q("SELECT COUNT() FROM RELATIONSHIPS").select, Select::Count);
    assert_eq!(q("SELECT count ( ) FROM DIGITALTWINS").select, Select::Count);
    let query = q("SELECT T, T.name AS n, T.$metadata.$model, T.[[Group]] FROM DIGITALTWINS T");
    assert_eq!(
        query.select,
        Select::Items(vec![
            SelectItem { path: path(&["T"], 8), alias: None },
            SelectItem { path: path(&["T", "name"], 11), alias: Some(name("n", 1, 21)) },
            SelectItem { path: path(&["T", "$metadata", "$model"], 24), alias: None },
            SelectItem { path: path(&["T", "Group"], 44), alias: None },
        ])
    );
    // After a dot, reserved words are property names.
    let query = q("SELECT T.count, T.from FROM DIGITALTWINS T");
    assert_eq!(
        query.select,
        Select::Items(vec![
            SelectItem { path: path(&["T", "count"], 8), alias: None },
            SelectItem { path: path(&["T", "from"], 17), alias: None },
        ])
    );
}

#[test]
fn joins() {
    let query = q("SELECT T, CT, R FROM DIGITALTWINS T JOIN CT RELATED T.contains R \
                   JOIN S RELATED CT.hasSensor WHERE T.$dtId = 'ABC'");
    assert_eq!(
        query.joins,
        vec![
            Join {
                target: name("CT", 1, 42),
                source: name("T", 1, 53),
                relationship: "contains".into(),
                variable: Some(name("R", 1, 64)),
            },
            Join {
                target: name("S", 1, 71),
                source: name("CT", 1, 81),
                relationship: "hasSensor".into(),
                variable: None,
            },
        ]
    );
    assert!(query.filter.is_some());
}

#[test]
fn match_patterns() {
    let query = q("SELECT * FROM DIGITALTWINS MATCH (a)-[]->(b)<-[r:contains|feeds]-(c)-[*3]-(d)\
                   -[:x*1..3]->(e)-[*..2]->()");
    let pattern = query.pattern.unwrap();
    assert_eq!(
        pattern.nodes,
        vec![
            Some(name("a", 1, 35)),
            Some(name("b", 1, 43)),
            Some(name("c", 1, 67)),
            Some(name("d", 1, 76)),
            Some(name("e", 1, 91)),
            None,
        ]
    );
    let e = &pattern.edges;
    assert_eq!(
        e[0],
        EdgePattern {
            direction: Direction::Right,
            variable: None,
            names: vec![],
            hops: None,
            pos: pos(1, 37)
        }
    );
    assert_eq!(e[1].direction, Direction::Left);
    assert_eq!(e[1].variable, Some(name("r", 1, 48)));
    assert_eq!(e[1].names, ["contains", "feeds"]);
    assert_eq!((e[2].direction, e[2].hops), (Direction::Both, Some(Hops::Exact(3))));
    assert_eq!(e[3].names, ["x"]);
    assert_eq!(e[3].hops, Some(Hops::Range { after: Some(1), to: 3 }));
    assert_eq!(e[4].hops, Some(Hops::Range { after: None, to: 2 }));
    // A single twin; bare names without parentheses.
    assert_eq!(
        q("SELECT t FROM DIGITALTWINS MATCH (t) WHERE t.$dtId = 'x'").pattern.unwrap().edges,
        vec![]
    );
    let p = q("SELECT A FROM DIGITALTWINS MATCH A-[:contains]->B").pattern.unwrap();
    assert_eq!(p.nodes, vec![Some(name("A", 1, 34)), Some(name("B", 1, 49))]);
}

#[test]
fn conditions_and_precedence() {
    // AND binds tighter than OR; NOT tighter than AND.
    let e = filter("SELECT * FROM DIGITALTWINS T WHERE NOT T.a = 1 AND T.b < 2 OR T.c >= -3.5");
    let cmp = |p: &str, c: u32, op, v| {
        Expr::Compare(Operand::Path(path(&["T", p], c)), op, Operand::Literal(v))
    };
    assert_eq!(
        e,
        Expr::Or(vec![
            Expr::And(vec![
                Expr::Not(Box::new(cmp("a", 40, CmpOp::Eq, json!(1)))),
                cmp("b", 52, CmpOp::Lt, json!(2)),
            ]),
            cmp("c", 63, CmpOp::GtEq, json!(-3.5)),
        ])
    );
    let e = filter("SELECT * FROM DIGITALTWINS T WHERE T.a != 'x' AND (T.b <= 1 OR T.c > 2)");
    let Expr::And(terms) = e else { panic!() };
    assert!(matches!(terms[1], Expr::Or(_)));
    // Literals on either side, strings with escapes, true/false/null.
    let e = filter(
        "SELECT * FROM DIGITALTWINS WHERE 'D\\'Souza' = owner AND flag = TRUE AND x != null",
    );
    let Expr::And(terms) = e else { panic!() };
    assert_eq!(
        terms[0],
        Expr::Compare(
            Operand::Literal(json!("D'Souza")),
            CmpOp::Eq,
            Operand::Path(path(&["owner"], 47))
        )
    );
    assert_eq!(
        terms[1],
        Expr::Compare(Operand::Path(path(&["flag"], 57)), CmpOp::Eq, Operand::Literal(json!(true)))
    );
    assert_eq!(
        terms[2],
        Expr::Compare(Operand::Path(path(&["x"], 73)), CmpOp::NotEq, Operand::Literal(json!(null)))
    );
    // A bare path is a condition.
    assert_eq!(
        filter("SELECT * FROM DIGITALTWINS WHERE isOn"),
        Expr::Value(Operand::Path(path(&["isOn"], 34)))
    );
}

#[test]
fn in_lists() {
    let e = filter(
        "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN ['a', 'b'] AND T.n NIN [1, 2.5] AND T.s NOT IN []",
    );
    let Expr::And(terms) = e else { panic!() };
    assert_eq!(
        terms,
        vec![
            Expr::In {
                value: Operand::Path(path(&["T", "$dtId"], 36)),
                list: vec![json!("a"), json!("b")],
                negated: false
            },
            Expr::In {
                value: Operand::Path(path(&["T", "n"], 62)),
                list: vec![json!(1), json!(2.5)],
                negated: true
            },
            Expr::In { value: Operand::Path(path(&["T", "s"], 83)), list: vec![], negated: true },
        ]
    );
}

#[test]
fn functions() {
    let e = filter(
        "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL('dtmi:a:B;1') AND is_of_model(T, 'dtmi:a:C;2', exact) \
         AND IS_DEFINED(T.x) AND STARTSWITH(T.$dtId, 'room-') AND ARRAY_CONTAINS(T.tags, 2)",
    );
    let Expr::And(terms) = e else { panic!() };
    assert_eq!(
        terms[0],
        Expr::IsOfModel { alias: None, model: "dtmi:a:B;1".into(), exact: false, pos: pos(1, 36) }
    );
    assert_eq!(
        terms[1],
        Expr::IsOfModel {
            alias: Some(name("T", 1, 78)),
            model: "dtmi:a:C;2".into(),
            exact: true,
            pos: pos(1, 66)
        }
    );
    assert_eq!(
        terms[2],
        Expr::Call(Function::IsDefined, vec![Operand::Path(path(&["T", "x"], 117))], pos(1, 106))
    );
    assert!(matches!(&terms[3], Expr::Call(Function::StartsWith, args, _) if args.len() == 2));
    assert!(
        matches!(&terms[4], Expr::Call(Function::ArrayContains, args, _) if args[1] == Operand::Literal(json!(2)))
    );
    for f in [
        "IS_NULL",
        "IS_BOOL",
        "IS_NUMBER",
        "IS_STRING",
        "IS_OBJECT",
        "IS_PRIMITIVE",
        "ENDSWITH",
        "CONTAINS",
    ] {
        let arg = if f.starts_with("IS_") { "x" } else { "x, 'y'" };
        let text = format!("SELECT * FROM DIGITALTWINS WHERE {f}({arg})");
        assert!(matches!(filter(&text), Expr::Call(..)), "{text}");
    }
}

#[test]
fn order_by_and_comments() {
    let query = q(
        "SELECT * FROM DIGITALTWINS T -- every twin\nWHERE T.x > 1 ORDER BY T.name DESC, T.$dtId ASC, T.y",
    );
    assert_eq!(
        query.order,
        vec![
            OrderKey {
                path: Path { parts: vec!["T".into(), "name".into()], pos: pos(2, 24) },
                descending: true
            },
            OrderKey {
                path: Path { parts: vec!["T".into(), "$dtId".into()], pos: pos(2, 37) },
                descending: false
            },
            OrderKey {
                path: Path { parts: vec!["T".into(), "y".into()], pos: pos(2, 50) },
                descending: false
            },
        ]
    );
}

#[test]
fn malformed_queries_say_where_and_what() {
    let cases = [
        (
            "SELECT * FORM DIGITALTWINS",
            "query syntax error at line 1, column 10: expected FROM, found 'FORM'",
        ),
        (
            "SELECT * FROM DIGITALTWIN",
            "query syntax error at line 1, column 15: expected DIGITALTWINS or RELATIONSHIPS, found 'DIGITALTWIN'",
        ),
        ("", "query syntax error at line 1, column 1: expected SELECT, found the end of the query"),
        (
            "SELECT FROM DIGITALTWINS",
            "query syntax error at line 1, column 8: expected '*', COUNT() or a collection or property name to return, found 'FROM'",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE",
            "query syntax error at line 1, column 35: expected a property name or a value, found the end of the query",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE T.a = ",
            "query syntax error at line 1, column 42: expected a property name or a value, found the end of the query",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE T.a = 1 T.b = 2",
            "query syntax error at line 1, column 44: expected AND, OR, ORDER BY or the end of the query, found 'T'",
        ),
        (
            "SELECT * FROM DIGITALTWINS T\n  WHERE (T.a = 1",
            "query syntax error at line 2, column 17: expected ')', found the end of the query",
        ),
        (
            "SELECT * FROM DIGITALTWINS WHERE Group = 'x'",
            "query syntax error at line 1, column 34: expected a property name or a value, found 'Group' ('Group' is a reserved word; escape it as [[Group]])",
        ),
        (
            "SELECT TOP(0) FROM DIGITALTWINS",
            "query syntax error at line 1, column 12: expected a positive whole number (TOP(n)), found the number 0",
        ),
        (
            "SELECT TOP 5 FROM DIGITALTWINS",
            "query syntax error at line 1, column 12: expected '(', found the number 5",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE T.x IN 'a'",
            "query syntax error at line 1, column 43: expected '[' (a list such as ['a', 'b']), found the string 'a'",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE T.x IN ['a' 'b']",
            "query syntax error at line 1, column 48: expected ',' or ']', found the string 'b'",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE T.x IN [T.y]",
            "query syntax error at line 1, column 44: an IN list holds values (strings, numbers, true, false, null), not names",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE T.x NOT = 1",
            "query syntax error at line 1, column 44: expected IN after NOT, found '='",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE FOO(T.x)",
            "query syntax error at line 1, column 36: unknown function 'FOO'; the functions are IS_OF_MODEL, IS_DEFINED, IS_NULL, IS_BOOL, IS_NUMBER, IS_STRING, IS_OBJECT, IS_PRIMITIVE, STARTSWITH, ENDSWITH, CONTAINS and ARRAY_CONTAINS",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE STARTSWITH(T.x)",
            "query syntax error at line 1, column 50: expected ',', found ')'",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE IS_NULL(T.x, 1)",
            "query syntax error at line 1, column 47: expected ')' (IS_NULL takes 1 argument), found ','",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T)",
            "query syntax error at line 1, column 49: expected ',', found ')'",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, dtmi)",
            "query syntax error at line 1, column 51: expected a model id in quotes, such as 'dtmi:example:Room;1', found 'dtmi'",
        ),
        (
            "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL('m', true)",
            "query syntax error at line 1, column 53: expected exact, found 'true'",
        ),
        (
            "SELECT T FROM DIGITALTWINS T JOIN CT T.contains",
            "query syntax error at line 1, column 38: expected RELATED, found 'T'",
        ),
        (
            "SELECT T FROM DIGITALTWINS T JOIN CT RELATED T",
            "query syntax error at line 1, column 47: expected '.', found the end of the query",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)->(b)",
            "query syntax error at line 1, column 38: expected '[' (a relationship condition such as -[:contains]->), found '>'",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[:]->(b)",
            "query syntax error at line 1, column 40: expected a relationship name, found ']'",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[*]->(b)",
            "query syntax error at line 1, column 40: expected a hop count such as *3, *1..3 or *..2, found ']'",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[r x]->(b)",
            "query syntax error at line 1, column 41: expected ':', '*' or ']', found 'x'",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)<-[]->(b)",
            "query syntax error at line 1, column 37: a relationship condition cannot point both ways (<-[]->); chain two conditions instead",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[*1.5]->(b)",
            "query syntax error at line 1, column 40: a hop count is a whole number, found 1.5",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a",
            "query syntax error at line 1, column 36: expected ')', found the end of the query",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[]->(b) JOIN c RELATED a.x",
            "query syntax error at line 1, column 46: expected WHERE, ORDER BY or the end of the query, found 'JOIN'",
        ),
        (
            "SELECT * FROM DIGITALTWINS T ORDER T.x",
            "query syntax error at line 1, column 36: expected BY, found 'T'",
        ),
        (
            "SELECT * FROM DIGITALTWINS T ORDER BY T.x DESC T.y",
            "query syntax error at line 1, column 48: expected ',' or the end of the query, found 'T'",
        ),
        (
            "SELECT T.x AS FROM DIGITALTWINS T",
            "query syntax error at line 1, column 15: expected a name after AS, found 'FROM'",
        ),
        (
            "SELECT T.* FROM DIGITALTWINS T",
            "query syntax error at line 1, column 10: expected a property name after '.', found '*'",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(fails(text), want, "{text}");
    }
}

#[test]
fn limits() {
    let long = format!("SELECT * FROM DIGITALTWINS T WHERE T.name = '{}'", "x".repeat(8000));
    let e = parse(&long).unwrap_err();
    assert_eq!(e.code, crate::error::ErrorCode::LimitExceeded);
    assert!(e.message.contains("characters long; the limit is 8000"), "{e}");
    // Exactly 8,000 characters is allowed.
    let base = "SELECT * FROM DIGITALTWINS T WHERE T.name = ''";
    let exact =
        format!("SELECT * FROM DIGITALTWINS T WHERE T.name = '{}'", "x".repeat(8000 - base.len()));
    assert_eq!(exact.chars().count(), 8000);
    parse(&exact).unwrap();

    let terms = |n: usize, op: &str| {
        let t: Vec<String> = (0..n).map(|i| format!("T.a = {i}")).collect();
        format!("SELECT * FROM DIGITALTWINS T WHERE {}", t.join(&format!(" {op} ")))
    };
    parse(&terms(51, "AND")).unwrap(); // 50 operators
    let e = parse(&terms(52, "OR")).unwrap_err();
    assert_eq!(e.code, crate::error::ErrorCode::LimitExceeded);
    assert!(
        e.message.starts_with("the query has more than 50 AND/OR operators (the limit)"),
        "{e}"
    );

    let list = |n: usize| {
        let items: Vec<String> = (0..n).map(|i| format!("'{i}'")).collect();
        format!("SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN [{}]", items.join(","))
    };
    parse(&list(50)).unwrap();
    let e = parse(&list(51)).unwrap_err();
    assert_eq!(e.code, crate::error::ErrorCode::LimitExceeded);
    assert_eq!(e.message, "the IN list at line 1, column 47 has more than 50 values (the limit)");

    let deep =
        format!("SELECT * FROM DIGITALTWINS T WHERE {}T.a = 1{}", "(".repeat(70), ")".repeat(70));
    assert!(fails(&deep).contains("conditions nest more than 64 levels deep"));
    let nots = format!("SELECT * FROM DIGITALTWINS T WHERE {} T.a = 1", "NOT ".repeat(65));
    assert!(fails(&nots).contains("conditions nest more than 64 levels deep"));
    let ok =
        format!("SELECT * FROM DIGITALTWINS T WHERE {}T.a = 1{}", "(".repeat(60), ")".repeat(60));
    parse(&ok).unwrap();
}

#[test]
fn numbers() {
    let e = filter(
        "SELECT * FROM DIGITALTWINS WHERE a = 18446744073709551615 AND b = 1e3 AND c = -0.5",
    );
    let Expr::And(t) = e else { panic!() };
    assert_eq!(
        t[0],
        Expr::Compare(
            Operand::Path(path(&["a"], 34)),
            CmpOp::Eq,
            Operand::Literal(json!(u64::MAX))
        )
    );
    assert_eq!(
        t[1],
        Expr::Compare(Operand::Path(path(&["b"], 63)), CmpOp::Eq, Operand::Literal(json!(1000.0)))
    );
    assert_eq!(
        t[2],
        Expr::Compare(Operand::Path(path(&["c"], 75)), CmpOp::Eq, Operand::Literal(json!(-0.5)))
    );
    assert!(
        fails("SELECT * FROM DIGITALTWINS WHERE a = 1e999")
            .contains("is not a number a query can use")
    );
}
