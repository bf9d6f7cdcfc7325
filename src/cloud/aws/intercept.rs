//! The interceptor every service client carries: [`CallCounter`].

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::errors::is_throttled;
use crate::cloud::stats::Stats;

/// Records every operation, attempt and throttled attempt of one service client in [`Stats`],
/// under `Service.Operation`.
#[derive(Debug)]
pub(super) struct CallCounter {
    service: &'static str,
    stats: Stats,
}

impl CallCounter {
    pub(super) fn new(service: &'static str, stats: &Stats) -> Self {
        CallCounter {
            service,
            stats: stats.clone(),
        }
    }

    fn operation(&self, cfg: &ConfigBag) -> String {
        let name = cfg.load::<Metadata>().map_or("Unknown", Metadata::name);
        format!("{}.{name}", self.service)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "reroll.CallCounter"
    }

    // Once per execution. Not `read_before_execution`: client-level interceptors run that hook
    // before the operation's configuration (and with it the operation's name) is applied.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.stats.record_call(&self.operation(cfg));
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.stats.record_attempt(&self.operation(cfg));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if is_throttled(context.inner(), runtime_components) {
            self.stats.record_throttle(&self.operation(cfg));
        }
        Ok(())
    }
}
