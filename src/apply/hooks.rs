//! Hooks: user commands run at fixed points of a rollout, with the rollout's context in their
//! environment. A non-zero exit or a timeout fails the step, like an unhealthy wave.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::stack::{Hook, HookEvent};

/// What a hook is told about the rollout, as `REROLL_*` environment variables.
#[derive(Debug, Clone, Default)]
pub struct HookContext {
    pub stack: String,
    /// `server_group.web`
    pub group: String,
    /// The Auto Scaling group (or fleet) names of both generations.
    pub old_generation: Option<String>,
    pub new_generation: String,
    pub old_ami: Option<String>,
    pub new_ami: String,
    /// Waves completed so far, counting the one the hook runs after.
    pub wave: u32,
    /// New instances (all of them healthy so far, or of this wave).
    pub new_instance_ids: Vec<String>,
    pub new_private_ips: Vec<String>,
    /// Blue/green: the share of traffic about to go to the new generation.
    pub traffic_percent: Option<u32>,
}

impl HookContext {
    fn env(&self, event: HookEvent) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("REROLL_EVENT", event.as_str().to_string()),
            ("REROLL_STACK", self.stack.clone()),
            ("REROLL_GROUP", self.group.clone()),
            ("REROLL_NEW_GENERATION", self.new_generation.clone()),
            ("REROLL_NEW_AMI", self.new_ami.clone()),
            ("REROLL_WAVE", self.wave.to_string()),
            ("REROLL_NEW_INSTANCE_IDS", self.new_instance_ids.join(",")),
            ("REROLL_NEW_PRIVATE_IPS", self.new_private_ips.join(",")),
            (
                "REROLL_OLD_GENERATION",
                self.old_generation.clone().unwrap_or_default(),
            ),
            ("REROLL_OLD_AMI", self.old_ami.clone().unwrap_or_default()),
        ];
        if let Some(p) = self.traffic_percent {
            env.push(("REROLL_TRAFFIC_PERCENT", p.to_string()));
        }
        env
    }
}

/// Why a hook failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("{event} hook `{command}` exited with {status}")]
    Failed {
        event: &'static str,
        command: String,
        status: String,
    },
    #[error("{event} hook `{command}` did not finish within {timeout}; it was killed")]
    TimedOut {
        event: &'static str,
        command: String,
        timeout: String,
    },
    #[error("{event} hook `{command}` could not start: {message}")]
    Spawn {
        event: &'static str,
        command: String,
        message: String,
    },
}

/// The program to run: a relative path with a slash is relative to the hook's directory
/// (where its stack file is), not to wherever reroll was started.
fn program(dir: &Path, program: &str) -> PathBuf {
    let p = Path::new(program);
    if p.is_relative() && program.contains('/') {
        dir.join(p)
    } else {
        p.to_path_buf()
    }
}

/// Runs the hooks in order; the first failure stops and is returned.
pub async fn run(hooks: &[&Hook], ctx: &HookContext) -> Result<(), HookError> {
    for hook in hooks {
        run_one(hook, ctx).await?;
    }
    Ok(())
}

/// Runs one hook on its own thread and runtime, on the real clock: the caller may run on a
/// paused clock (a simulated account), which would otherwise jump to the hook's timeout while
/// the process works in real time.
async fn run_one(hook: &Hook, ctx: &HookContext) -> Result<(), HookError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (hook, ctx) = (hook.clone(), ctx.clone());
    let event = hook.event.as_str();
    let command = hook.command.join(" ");
    std::thread::spawn(move || {
        let result = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(run_here(&hook, &ctx)),
            Err(e) => Err(HookError::Spawn {
                event: hook.event.as_str(),
                command: hook.command.join(" "),
                message: e.to_string(),
            }),
        };
        let _ = tx.send(result);
    });
    rx.await.unwrap_or_else(|_| {
        Err(HookError::Spawn {
            event,
            command,
            message: "the hook's thread ended without a result".into(),
        })
    })
}

async fn run_here(hook: &Hook, ctx: &HookContext) -> Result<(), HookError> {
    let event = hook.event.as_str();
    let command = hook.command.join(" ");
    tracing::info!(group = %ctx.group, hook = event, %command, "running hook");
    let mut child = Command::new(program(&hook.dir, &hook.command[0]))
        .args(&hook.command[1..])
        .current_dir(&hook.dir)
        .envs(ctx.env(hook.event))
        // The hook's own `env`, possibly sensitive: passed, never logged.
        .envs(&hook.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| HookError::Spawn {
            event,
            command: command.clone(),
            message: e.to_string(),
        })?;
    // The hook's output goes to the log, line by line, tagged with the hook.
    let mut pipes = Vec::new();
    if let Some(out) = child.stdout.take() {
        pipes.push(tokio::spawn(forward(
            BufReader::new(out),
            ctx.group.clone(),
            event,
        )));
    }
    if let Some(err) = child.stderr.take() {
        pipes.push(tokio::spawn(forward(
            BufReader::new(err),
            ctx.group.clone(),
            event,
        )));
    }
    let status = match tokio::time::timeout(hook.timeout, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            return Err(HookError::Spawn {
                event,
                command,
                message: e.to_string(),
            })
        }
        Err(_) => {
            let _ = child.kill().await;
            return Err(HookError::TimedOut {
                event,
                command,
                timeout: humantime::format_duration(hook.timeout).to_string(),
            });
        }
    };
    for p in pipes {
        let _ = tokio::time::timeout(Duration::from_secs(5), p).await;
    }
    if status.success() {
        tracing::info!(group = %ctx.group, hook = event, "hook passed");
        Ok(())
    } else {
        Err(HookError::Failed {
            event,
            command,
            status: status.to_string(),
        })
    }
}

async fn forward<R: tokio::io::AsyncBufRead + Unpin>(reader: R, group: String, event: &str) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(group = %group, hook = event, "| {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(command: &[&str], timeout: Duration) -> Hook {
        Hook {
            event: HookEvent::AfterWave,
            command: command.iter().map(|s| s.to_string()).collect(),
            timeout,
            dir: std::env::temp_dir(),
            env: Default::default(),
        }
    }

    fn ctx() -> HookContext {
        HookContext {
            stack: "shop".into(),
            group: "server_group.web".into(),
            new_generation: "shop-web-v002".into(),
            new_ami: "ami-2".into(),
            wave: 3,
            new_instance_ids: vec!["i-1".into(), "i-2".into()],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn hooks_see_the_context_and_fail_on_non_zero_exit() {
        let ok = hook(
            &[
                "sh",
                "-c",
                "test \"$REROLL_WAVE\" = 3 && test \"$REROLL_NEW_INSTANCE_IDS\" = i-1,i-2 \
                 && test \"$REROLL_EVENT\" = after_wave",
            ],
            Duration::from_secs(10),
        );
        assert_eq!(run(&[&ok], &ctx()).await, Ok(()));
        let bad = hook(&["sh", "-c", "exit 7"], Duration::from_secs(10));
        let err = run(&[&bad], &ctx()).await.unwrap_err();
        assert!(matches!(err, HookError::Failed { .. }), "{err}");
        assert!(err.to_string().contains("exit status: 7"), "{err}");
    }

    #[tokio::test]
    async fn a_hook_past_its_timeout_is_killed() {
        let slow = hook(&["sleep", "30"], Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = run(&[&slow], &ctx()).await.unwrap_err();
        assert!(matches!(err, HookError::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_missing_program_is_reported() {
        let missing = hook(&["./no-such-smoke-test.sh"], Duration::from_secs(5));
        let err = run(&[&missing], &ctx()).await.unwrap_err();
        assert!(matches!(err, HookError::Spawn { .. }), "{err}");
    }
}
