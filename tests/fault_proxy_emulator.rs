//! The emulator's fault proxy (`localstack/fault_proxy.py`) answers as AWS does under load:
//! reroll's own client reads its throttles as throttles and its 5xx and reset connections as
//! transient failures, for each service reroll calls. (`localstack/chaos.py` rolls stacks
//! through it; this checks that what it injects is what the SDK would see from AWS.)

mod common {
    pub mod emulator;
}

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::emulator::{python, Emulator};
use reroll::cloud::aws::{AwsCloud, ConnectOptions};
use reroll::cloud::stats::Stats;
use reroll::cloud::{Cloud, CloudError, ObjectRef};

/// `fault_proxy.py` in front of `upstream`, faulting every request with the kinds in `mix`.
struct Proxy {
    child: Child,
    url: String,
}

impl Proxy {
    fn start(upstream: &str, mix: &str) -> Proxy {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("localstack/fault_proxy.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--upstream", upstream, "--rate", "1", "--mix", mix])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn localstack/fault_proxy.py");
        let mut url = String::new();
        BufReader::new(child.stdout.take().expect("proxy stdout"))
            .read_line(&mut url)
            .expect("the proxy prints its URL");
        Proxy {
            child,
            url: url.trim().to_string(),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What each service's call ended with through the proxy, one attempt each.
async fn through(proxy: &Proxy) -> Vec<(&'static str, CloudError)> {
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        profile: None,
        endpoint_url: Some(proxy.url.clone()),
        max_attempts: 1,
    };
    let cloud = AwsCloud::connect(&opts, Stats::new()).await.unwrap();
    let object = ObjectRef {
        bucket: "locks".into(),
        key: "stack.lock".into(),
        region: None,
    };
    vec![
        ("EC2", cloud.list_instances("s").await.unwrap_err()),
        ("Auto Scaling", cloud.list_groups("s").await.unwrap_err()),
        (
            "ELBv2",
            cloud.list_target_groups("s", "s-").await.unwrap_err(),
        ),
        (
            "CloudWatch",
            cloud.alarm_states(&["a".into()]).await.unwrap_err(),
        ),
        ("S3", cloud.get_object(&object).await.unwrap_err()),
    ]
}

/// What a call's error must be.
type Check = fn(&CloudError) -> bool;

/// (fault kinds, what every service's call must end with)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_proxy_fails_each_service_as_aws_does() {
    let emu = Emulator::start();
    let cases: [(&str, Check); 5] = [
        ("throttle=1", |e| matches!(e, CloudError::Throttled { .. })),
        ("500=1", CloudError::is_transient),
        ("503=1", CloudError::is_transient),
        ("reset-before=1", CloudError::is_transient),
        ("reset-after=1", CloudError::is_transient),
    ];
    for (mix, expected) in cases {
        let proxy = Proxy::start(&emu.endpoint, mix);
        for (service, err) in through(&proxy).await {
            assert!(expected(&err), "{mix}: {service} ended with {err:?}");
        }
    }
}
