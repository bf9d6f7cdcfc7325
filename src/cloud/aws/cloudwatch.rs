//! CloudWatch: the states of the alarms a rollout's gates watch.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch as cw;

use super::client::AwsCloud;
use crate::cloud::CloudResult;

/// DescribeAlarms takes up to 100 alarm names.
const ALARMS_PER_CALL: usize = 100;

impl AwsCloud {
    pub(super) async fn alarm_states(
        &self,
        names: &[String],
    ) -> CloudResult<BTreeMap<String, String>> {
        const OP: &str = "CloudWatch.DescribeAlarms";
        let mut out = BTreeMap::new();
        for batch in names.chunks(ALARMS_PER_CALL) {
            let request = self
                .cw
                .describe_alarms()
                .set_alarm_names(Some(batch.to_vec()))
                .alarm_types(cw::types::AlarmType::MetricAlarm)
                .alarm_types(cw::types::AlarmType::CompositeAlarm)
                .max_records(ALARMS_PER_CALL as i32);
            let pages: Vec<_> = self
                .call(OP, "alarms", request.into_paginator().send().try_collect())
                .await?;
            for page in pages {
                let metric = page
                    .metric_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value()));
                let composite = page
                    .composite_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value()));
                for (name, state) in metric.chain(composite) {
                    if let (Some(n), Some(s)) = (name, state) {
                        out.insert(n.to_string(), s.as_str().to_string());
                    }
                }
            }
        }
        Ok(out)
    }
}
