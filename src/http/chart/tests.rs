//! The SVG chart, drawn from known data.

use super::*;

fn count(n: u64) -> String {
    n.to_string()
}

fn chart(series: Vec<Series>, limit: Option<(String, u64)>) -> Chart<'static> {
    let n = series.first().map_or(0, |s| s.values.len());
    Chart {
        id: "t",
        title: "Jobs per hour",
        slots: (0..n).map(|i| format!("slot {i}")).collect(),
        ticks: (0..n).map(|i| format!("{i}")).collect(),
        series,
        limit,
        format: count,
        floor: 0,
    }
}

/// Every bar's `(series, value, height)`, in the order drawn.
fn bars(svg: &str) -> Vec<(String, u64, String)> {
    svg.split("<rect class=\"bar\"")
        .skip(1)
        .map(|bar| {
            let attr = |name: &str| {
                let (_, rest) = bar.split_once(&format!(" {name}=\"")).unwrap();
                rest.split('"').next().unwrap().to_owned()
            };
            (attr("data-series"), attr("data-value").parse().unwrap(), attr("height"))
        })
        .collect()
}

#[test]
fn the_axis_ends_on_one_two_or_five_times_a_power_of_ten() {
    let tops: Vec<u64> = [0, 1, 2, 3, 7, 10, 11, 150, 999_999].map(axis_top).to_vec();
    assert_eq!(tops, [1, 1, 2, 5, 10, 10, 20, 200, 1_000_000]);
    assert_eq!(axis_top(u64::MAX), u64::MAX);
}

#[test]
fn each_slot_has_a_bar_per_series_as_tall_as_its_share_of_the_axis() {
    let c = chart(
        vec![
            Series { name: "done", values: vec![0, 5, 10, 2] },
            Series { name: "failed", values: vec![1, 0, 0, 8] },
        ],
        None,
    );
    let svg = svg(&c);
    let drawn = bars(&svg);
    let want: Vec<(String, u64, String)> = [
        ("done", 0, "0.0"),
        ("failed", 1, "16.0"),
        ("done", 5, "80.0"),
        ("failed", 0, "0.0"),
        ("done", 10, "160.0"),
        ("failed", 0, "0.0"),
        ("done", 2, "32.0"),
        ("failed", 8, "128.0"),
    ]
    .map(|(s, v, h)| (s.to_owned(), v, h.to_owned()))
    .to_vec();
    assert_eq!(drawn, want);
    // Each bar says what it is without colour; the axis says its scale.
    assert!(svg.contains("<title>slot 3: 8 failed</title>"), "{svg}");
    assert!(svg.contains("url(#t-solid)") && svg.contains("url(#t-hatch)"));
    assert!(svg.contains(">10</text>") && svg.contains(">5</text>"), "{svg}");
    assert!(svg.contains("viewBox=\"0 0 480 240\" width=\"100%\""));
    assert!(svg.contains("role=\"img\" aria-labelledby=\"t-title\""));
}

#[test]
fn no_data_draws_flat_bars_on_an_axis_of_one() {
    let c = chart(vec![Series { name: "done", values: vec![0; 24] }], None);
    let svg = svg(&c);
    let drawn = bars(&svg);
    assert_eq!(drawn.len(), 24);
    assert!(drawn.iter().all(|(_, v, h)| *v == 0 && h == "0.0"));
    assert!(svg.contains(">1</text>"), "{svg}");
    // Of 24 slot names, every fourth is on the axis.
    assert_eq!(svg.matches("y=\"188.0\">").count(), 6, "{svg}");
    let empty = chart(vec![], None);
    assert!(bars(&super::svg(&empty)).is_empty());
}

#[test]
fn the_floor_keeps_three_distinct_labels_on_a_chart_of_zeros() {
    let c = Chart { floor: 2, ..chart(vec![Series { name: "done", values: vec![0; 3] }], None) };
    let svg = svg(&c);
    for label in ["end\">0</text>", "end\">1</text>", "end\">2</text>"] {
        assert_eq!(svg.matches(label).count(), 1, "{label} in {svg}");
    }
    // Values above the floor raise the axis as before.
    let c = Chart { floor: 2, ..chart(vec![Series { name: "done", values: vec![7] }], None) };
    assert!(svg_has_top(&super::svg(&c), 10));
}

fn svg_has_top(svg: &str, top: u64) -> bool {
    svg.contains(&format!("end\">{top}</text>"))
}

#[test]
fn the_limit_line_stands_at_its_value_and_raises_the_axis_to_it() {
    let c = chart(
        vec![Series { name: "spent", values: vec![100, 300] }],
        Some(("daily cap".to_owned(), 500)),
    );
    let svg = svg(&c);
    // The axis ends at 500 (the cap), so 100 is a fifth of it and the cap is at the top.
    assert_eq!(bars(&svg)[0].2, "32.0");
    assert!(svg.contains("class=\"limit\" x1=\"64\" x2=\"472\" y1=\"12.0\" y2=\"12.0\""), "{svg}");
    assert!(svg.contains("<title>daily cap: 500</title>"));
}

#[test]
fn huge_values_scale_without_overflow() {
    let c = chart(vec![Series { name: "n", values: vec![u64::MAX, u64::MAX / 2] }], None);
    let drawn = bars(&svg(&c));
    assert_eq!((drawn[0].2.as_str(), drawn[1].2.as_str()), ("160.0", "80.0"));
}

#[test]
fn the_table_holds_every_number_and_names_are_escaped() {
    let mut c = chart(vec![Series { name: "done", values: vec![3, 4] }], None);
    c.slots[1] = "<b>".to_owned();
    let html = render(&c);
    assert!(html.contains("<tr><th scope=\"row\">slot 0</th><td class=\"n\">3</td></tr>"));
    assert!(html.contains("<tr><th scope=\"row\">&lt;b&gt;</th><td class=\"n\">4</td></tr>"));
    assert!(!html.contains("<b>"), "{html}");
}
