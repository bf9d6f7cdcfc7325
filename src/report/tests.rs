use super::*;
use std::time::{Duration, SystemTime};

use crate::apply::progress::RolloutProgress;
use crate::apply::GroupReport;
use crate::forecast::Sample;
use crate::plan::{Action, Plan};

use super::build::points;
use super::chart::steps;
use super::html::script_json;
use crate::plan::{Change, Kind, RolloutPlan};
use crate::stack::Strategy;

fn progress(at: u64, healthy: u32, launching: u32, old: u32, draining: u32, waves: u32) -> Sample {
    Sample {
        at: Duration::from_secs(at),
        progress: RolloutProgress {
            address: "server_group.web".into(),
            from: Some(1),
            to: 2,
            desired: 4,
            launching,
            healthy,
            old_serving: old,
            old_unhealthy: 0,
            draining,
            traffic: None,
            waves,
            planned_waves: 2,
            activity: None,
            elapsed: Duration::from_secs(at),
            estimate: Duration::from_secs(300),
            finished: None,
        },
    }
}

fn plan() -> Plan {
    Plan {
        format_version: crate::plan::FORMAT_VERSION,
        stack: "shop".into(),
        region: "us-east-1".into(),
        changes: vec![Change {
            address: "server_group.web".into(),
            kind: Kind::ServerGroup,
            action: Action::Replace,
            reason: "image changed: v001 → v002 <b>".into(),
            diffs: Vec::new(),
            rollout: Some(RolloutPlan {
                from_generation: Some(1),
                to_generation: 2,
                strategy: Strategy::Rolling,
                desired: 4,
                max_surge: 2,
                max_unavailable: 1,
                waves: crate::plan::waves(4, 2, 0),
                traffic_steps: Vec::new(),
                keep_blue_seconds: 0,
                estimate_seconds: 300,
                abandon_generation: None,
            }),
            fingerprint: None,
            launch: None,
        }],
        warnings: Vec::new(),
        observed_digest: String::new(),
        copies: Vec::new(),
    }
}

/// A rollout of 4 by 2, interrupted after its first wave.
fn samples() -> Vec<Sample> {
    let mut last = progress(130, 2, 0, 2, 0, 1);
    last.progress.finished = Some("interrupted".into());
    vec![
        progress(0, 0, 2, 4, 0, 0),
        progress(60, 2, 0, 2, 2, 0),
        progress(95, 2, 0, 2, 0, 1),
        last,
    ]
}

fn input<'a>(plan: &'a Plan, samples: &'a [Sample], reports: &'a [GroupReport]) -> Input<'a> {
    Input {
        stack: "shop",
        region: "us-east-1",
        plan: Some(plan),
        samples,
        reports,
        result: "interrupted",
        exit_code: 130,
        message: Some("server_group.web: stopped between waves"),
        started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000),
        duration: Duration::from_secs(131),
        simulated: true,
    }
}

#[test]
fn a_report_has_the_waves_events_and_outcome() {
    let (plan, samples) = (plan(), samples());
    let reports = [GroupReport {
        address: "server_group.web".into(),
        action: Action::Replace,
        from: Some(1),
        to: Some(2),
        waves: 1,
        planned_waves: 2,
        duration: Duration::from_secs(130),
        result: "interrupted".into(),
    }];
    let r = build(&input(&plan, &samples, &reports));
    assert_eq!(r.changes[0].waves.as_deref(), Some("1/2"));
    let [ro] = r.rollouts.as_slice() else {
        panic!("{:#?}", r.rollouts)
    };
    assert_eq!((ro.floor(), ro.waves_through, ro.points.len()), (3, 1, 4));
    assert_eq!(ro.strategy, "rolling");
    // (launch, drain, started, healthy, drained)
    type Row = (u32, u32, Option<u64>, Option<u64>, Option<u64>);
    let waves: Vec<Row> = ro
        .waves
        .iter()
        .map(|w| {
            let s = |d: Option<Duration>| d.map(|d| d.as_secs());
            (w.launch, w.drain, s(w.start), s(w.healthy), s(w.drained))
        })
        .collect();
    assert_eq!(
        waves,
        vec![
            (2, 2, Some(0), Some(60), Some(95)),
            (2, 2, None, None, None)
        ]
    );
    let texts: Vec<(u64, &str)> = r
        .events
        .iter()
        .map(|e| (e.at.as_secs(), e.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        vec![
            (0, "Plan: 1 to replace."),
            (
                0,
                "rollout v001 → v002 begins: 4 old serving, 2 waves planned"
            ),
            (0, "2 new instances asked for (2 of 4)"),
            (60, "2 new instances healthy (2 of 4)"),
            (60, "2 old instances deregistered, draining"),
            (95, "2 old instances drained and terminated (2 left)"),
            (95, "wave 1 of 2 done"),
            (130, "ended: interrupted, 1 of 2 waves got through"),
            (
                131,
                "apply ended: interrupted, exit code 130: server_group.web: stopped between \
                 waves"
            ),
        ]
    );
}

#[test]
fn the_page_is_self_contained_and_escaped() {
    let (plan, samples) = (plan(), samples());
    let html = render(&build(&input(&plan, &samples, &[])));
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Text is escaped; the only elements are the page's own.
    assert!(html.contains("v001 → v002 &lt;b&gt;"), "{html}");
    assert!(!html.contains("<b>"));
    // Nothing is fetched: no external scripts, styles, images or fonts.
    for fetch in ["src=", "href=", "@import", "url(", "http://", "https://"] {
        let found: Vec<&str> = html
            .match_indices(fetch)
            .map(|(i, _)| &html[i.saturating_sub(40)..(i + 40).min(html.len())])
            .filter(|ctx| !ctx.contains("http://www.w3.org/2000/svg"))
            .collect();
        assert!(found.is_empty(), "{fetch}: {found:?}");
    }
    assert!(html.contains("interrupted · exit code 130"));
    assert!(html.contains("<svg"));
    assert!(html.contains("floor (3)"));
    // The chart's data parses back.
    let start = html.find("class=\"data\">").unwrap() + "class=\"data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let data: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(data["points"].as_array().unwrap().len(), 4);
}

#[test]
fn values_hold_until_the_next_report() {
    let p = |at: f64, old: u32| Point {
        at,
        old,
        healthy: 0,
        launching: 0,
        draining: 0,
    };
    assert_eq!(
        steps(&[p(0.0, 4), p(10.0, 3), p(25.0, 1)], |p| p.old, 40.0),
        vec![
            (0.0, 4),
            (10.0, 4),
            (10.0, 3),
            (25.0, 3),
            (25.0, 1),
            (40.0, 1)
        ]
    );
    assert!(steps(&[], |p| p.old, 40.0).is_empty());
    // Reports of one moment are one point: the last.
    let (a, b) = (progress(5, 1, 0, 4, 0, 0), progress(5, 1, 1, 4, 0, 0));
    let pts = points(&[&a, &b]);
    assert_eq!(pts.len(), 1);
    assert_eq!(pts[0].launching, 1);
}

#[test]
fn script_data_cannot_end_its_element() {
    let json = script_json(&serde_json::json!({ "text": "</script><script>alert(1)" }));
    assert!(!json.contains('<') && !json.contains('>'), "{json}");
    let back: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(back["text"], "</script><script>alert(1)");
}

#[test]
fn an_apply_without_a_plan_still_says_how_it_ended() {
    let html = render(&build(&Input {
        plan: None,
        result: "failed",
        exit_code: 1,
        message: Some("the stack has errors"),
        ..input(&plan(), &[], &[])
    }));
    assert!(html.contains("failed · exit code 1"));
    assert!(html.contains("the stack has errors"));
    assert!(html.contains("no plan was made"));
}
