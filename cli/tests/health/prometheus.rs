//! A strict-enough parser of the Prometheus text exposition format (0.0.4) for the `/metrics`
//! test: it catches malformed names, labels, escapes and values, samples without a declared
//! family, and histograms that are not cumulative or whose `+Inf` bucket is not `_count`.

/// A metric's labels, in order.
pub type Labels = Vec<(String, String)>;

/// One sample: name, labels, value.
pub type Sample = (String, Labels, f64);

/// Parses Prometheus text exposition format (0.0.4) strictly enough to catch mistakes: every
/// sample belongs to a family declared by `# TYPE` before it, names and labels are well formed,
/// values are numbers, histograms are cumulative and end with `+Inf` = `_count`. Returns the
/// samples as (name, labels, value).
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    fn name_ok(s: &str) -> bool {
        let mut c = s.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
    }
    let mut types: std::collections::BTreeMap<String, String> = Default::default();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match parts.next() {
                Some("HELP") => assert!(name_ok(parts.next().unwrap_or("")), "{at}"),
                Some("TYPE") => {
                    let name = parts.next().unwrap().to_string();
                    let kind = parts.next().unwrap().to_string();
                    assert!(name_ok(&name), "{at}");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"]
                            .contains(&kind.as_str()),
                        "{at}"
                    );
                    assert!(types.insert(name, kind).is_none(), "TYPE declared twice: {at}");
                }
                _ => {}
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("{at}"));
        let name = &line[..name_end];
        assert!(name_ok(name), "bad metric name: {at}");
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let end;
            loop {
                let (start, c) =
                    chars.next().unwrap_or_else(|| panic!("unterminated labels: {at}"));
                if c == '}' {
                    end = start;
                    break;
                }
                let mut key = String::from(c);
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                assert!(name_ok(&key) && !key.contains(':'), "bad label name {key:?}: {at}");
                assert_eq!(chars.next().map(|c| c.1), Some('"'), "{at}");
                let mut value = String::new();
                loop {
                    match chars.next().unwrap_or_else(|| panic!("{at}")).1 {
                        '\\' => match chars.next().unwrap().1 {
                            'n' => value.push('\n'),
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            other => panic!("bad escape \\{other}: {at}"),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.push((key, value));
                match chars.peek().map(|c| c.1) {
                    Some(',') => {
                        chars.next();
                    }
                    Some('}') => {}
                    _ => panic!("expected , or }}: {at}"),
                }
            }
            rest = &r[end + 1..];
        }
        let mut fields = rest.split_whitespace();
        let value = fields.next().unwrap_or_else(|| panic!("no value: {at}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {at}")),
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().unwrap_or_else(|_| panic!("bad timestamp: {at}"));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its TYPE: {at}");
        samples.push((name.to_string(), labels, value));
    }
    // Histograms: cumulative buckets, +Inf equal to _count, per label set.
    for (family, _) in types.iter().filter(|(_, k)| *k == "histogram") {
        let mut series: std::collections::BTreeMap<Labels, Vec<(f64, f64)>> = Default::default();
        let mut counts: std::collections::BTreeMap<Vec<(String, String)>, f64> = Default::default();
        for (name, labels, v) in &samples {
            let others: Vec<(String, String)> =
                labels.iter().filter(|(k, _)| k != "le").cloned().collect();
            if *name == format!("{family}_bucket") {
                let le = labels.iter().find(|(k, _)| k == "le").expect("a bucket has le").1.clone();
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
                series.entry(others).or_default().push((le, *v));
            } else if *name == format!("{family}_count") {
                counts.insert(others, *v);
            }
        }
        for (labels, buckets) in series {
            assert!(
                buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{family} {labels:?}"
            );
            let inf = buckets.last().unwrap();
            assert!(inf.0.is_infinite(), "{family} {labels:?} ends without +Inf");
            assert_eq!(Some(&inf.1), counts.get(&labels), "{family} {labels:?}: +Inf != _count");
        }
    }
    samples
}

pub fn value(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, labels, _)| {
            n == name && with.iter().all(|(k, v)| labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.2)
}
