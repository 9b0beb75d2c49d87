//! AWS calls counted per operation, in-process: an SDK interceptor every client of the
//! adapters carries. It counts requests that got an answer (retries included; a presigned URL
//! is not a call), which is what AWS bills. The fleet reads the counters to report the cost of an
//! operation (the `x-stowage-aws-calls` answer header when `STOWAGE_COUNT_AWS_CALLS=1`).
//!
//! Counters are process-wide: exact per request where one request runs at a time (a Lambda
//! sandbox), a sum over requests in flight elsewhere. Nothing about a request's content is kept.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::Mutex;

static CALLS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// The interceptor: add it to every SDK client's config.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountCalls;

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "stowage-count-calls"
    }

    // After transmission, so a presigned request (signed, never sent) is not counted.
    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| format!("{}:{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown".into());
        if let Ok(mut calls) = CALLS.lock() {
            *calls.entry(name).or_default() += 1;
        }
        Ok(())
    }
}

/// Every operation called so far, with its count (`Service:Operation`).
pub fn snapshot() -> BTreeMap<String, u64> {
    CALLS.lock().map(|c| c.clone()).unwrap_or_default()
}

/// The calls made between two snapshots, as `Service:Operation=N` joined by `,` (empty when
/// none).
pub fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| format!("{k}={d}"))
        })
        .collect::<Vec<_>>()
        .join(",")
}
