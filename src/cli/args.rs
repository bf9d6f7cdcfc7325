//! What the user typed: clap definitions only, no IO.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reroll::lock::LockUrl;

#[derive(Debug, Parser)]
#[command(
    name = "reroll",
    version,
    about = "Immutable machine-image rollouts for AWS fleets, from declarative HCL stacks",
    long_about = None,
    after_help = "Examples:\n  reroll validate stacks/demo\n  reroll plan stacks/demo -var app_version=1.4.2\n  \
                  reroll apply stacks/demo -var app_version=1.4.2\n  reroll status stacks/demo\n\n\
                  Exit codes: 0 success (plan --detailed-exitcode: no changes), 1 error, \
                  2 plan --detailed-exitcode with changes, 3 rollout failed and was rolled back, \
                  4 rollout stopped part-way (a person must look), 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudKind {
    /// The AWS account of the credentials (or the endpoint given).
    Aws,
    /// A simulated account in memory, on a virtual clock (see `--sim-state`).
    Sim,
}

/// Options every command takes, shown once under their own heading.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Run against AWS, or against a simulated account on a virtual clock.
    #[arg(long, global = true, value_enum, default_value_t = CloudKind::Aws)]
    pub cloud: CloudKind,
    /// With `--cloud sim`: load the simulated account from FILE if it exists, and save it back
    /// after the command.
    #[arg(long, global = true, value_name = "FILE")]
    pub sim_state: Option<PathBuf>,
    /// AWS region; overrides the stack's `region`.
    #[arg(long, global = true, env = "REROLL_REGION")]
    pub region: Option<String>,
    /// Named AWS profile.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send AWS calls to this endpoint (a local emulator).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// The shared apply lock, s3://BUCKET/PREFIX[?lease=60s&region=R]; overrides the stack's
    /// `lock`. Without either, the lock is a local file beside the stack.
    #[arg(long, global = true, value_name = "URL", value_parser = parse_lock)]
    pub lock: Option<LockUrl>,
    /// More detail in logs (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines as text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Print AWS API calls per operation at the end.
    #[arg(long, global = true)]
    pub stats: bool,
    /// Seconds between polls while waiting on AWS.
    #[arg(
        long,
        global = true,
        default_value_t = 5.0,
        hide = true,
        env = "REROLL_POLL_SECONDS"
    )]
    pub poll_seconds: f64,
}

/// Variable flags shared by every command that evaluates a stack.
#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// Set a variable: -var name=value (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Read variables from an HCL file of `name = value` lines (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

fn parse_lock(s: &str) -> Result<LockUrl, String> {
    LockUrl::parse(s).map_err(|e| format!("{e}; {}", e.help()))
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a stack without touching AWS.
    #[command(
        after_help = "Examples:\n  reroll validate stacks/demo\n  reroll validate . -var app_version=1.4.2"
    )]
    Validate {
        /// The stack: one .hcl file, or a directory whose .hcl files are merged.
        path: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Show what apply would change.
    #[command(
        after_help = "Examples:\n  reroll plan stacks/demo -var app_version=1.4.2\n  reroll plan . -var-file prod.hcl --out plan.bin --detailed-exitcode\n  reroll plan . --json > plan.json\n  reroll --cloud sim plan . --forecast"
    )]
    Plan {
        /// The stack: one .hcl file, or a directory whose .hcl files are merged.
        path: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        /// Save the plan, to apply exactly it later.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the plan as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Exit 0 with no changes, 2 with changes, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan a definition even though it failed a rollout before.
        #[arg(long)]
        force: bool,
        /// Also play the plan forward in a simulated copy of what was observed, and print the
        /// predicted timeline of each rollout. Changes nothing.
        #[arg(long)]
        forecast: bool,
        /// Make every preflight shortfall (a quota the plan would exceed, a missing key pair
        /// or instance profile) an error instead of a warning.
        #[arg(long)]
        strict: bool,
        /// Plan these regions in order (overrides the stack's `regions` and `region`).
        #[arg(long, value_delimiter = ',', value_name = "REGION,...")]
        regions: Vec<String>,
    },
    /// Make the account match the stack (or a saved plan).
    #[command(
        after_help = "Examples:\n  reroll apply stacks/demo -var app_version=1.4.2\n  reroll apply plan.bin\n  reroll apply . -var-file prod.hcl --auto-approve --events events.jsonl --report rollout.html"
    )]
    Apply {
        /// A stack (file or directory) or a plan saved with `plan --out`.
        path: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long)]
        auto_approve: bool,
        /// Server groups rolled out at the same time.
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
        /// Try a definition again even though it failed a rollout before.
        #[arg(long)]
        force: bool,
        /// Print the plan as JSON instead of text before applying.
        #[arg(long)]
        json: bool,
        /// Write an HTML page of the apply to FILE: each rollout's capacity over time, its
        /// waves, the events, the result and exit code. Written however the apply ends;
        /// self-contained (nothing is fetched when it is opened).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Write the apply's events to FILE (`-`: stdout, the plan then goes to stderr) as
        /// JSON Lines, one versioned object per event, ending with `done` however the apply
        /// ends.
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        /// Refuse to apply when preflight finds a shortfall (as `plan --strict`).
        #[arg(long)]
        strict: bool,
        /// Apply these regions one after another (overrides the stack's `regions` and
        /// `region`).
        #[arg(long, value_delimiter = ',', value_name = "REGION,...")]
        regions: Vec<String>,
    },
    /// Generations, capacities and health of each server group.
    #[command(
        after_help = "Examples:\n  reroll status stacks/demo\n  reroll status . --check -var-file prod.hcl\n  reroll status . --format openmetrics > /var/lib/node_exporter/reroll.prom"
    )]
    Status {
        /// The stack: one .hcl file, or a directory whose .hcl files are merged.
        path: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        /// Exit 0 when every group serves its desired capacity healthy with nothing pending;
        /// otherwise exit 1 with one line per problem (degraded, interrupted rollout, failed
        /// definition pending, drift from the stack).
        #[arg(long)]
        check: bool,
        /// `text` (default) or `openmetrics`: Prometheus' text exposition format, for
        /// node_exporter's textfile collector.
        #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
        format: StatusFormat,
    },
    /// Go back to the previous retained generation.
    #[command(
        after_help = "Examples:\n  reroll rollback stacks/demo\n  reroll rollback . --group server_group.web --auto-approve"
    )]
    Rollback {
        /// The stack: one .hcl file, or a directory whose .hcl files are merged.
        path: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        /// Only this server group: its name (`web`) or address (`module.api.server_group.main`).
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long)]
        auto_approve: bool,
    },
    /// Remove the apply lock of a stack whose holder is gone. A shared (S3) lock needs the
    /// id its refusal printed; a local one is refused while its holder runs.
    #[command(
        after_help = "Examples:\n  reroll force-unlock stacks/demo\n  reroll force-unlock . 3f2c9a1e-5b7d-4c1a-9e8f-0a1b2c3d4e5f"
    )]
    ForceUnlock {
        /// The stack: one .hcl file, or a directory whose .hcl files are merged.
        path: PathBuf,
        /// The id of the lock to remove, as a refused command printed it.
        lock_id: Option<String>,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Remove everything the stack owns, and nothing else.
    #[command(
        after_help = "Examples:\n  reroll destroy stacks/demo\n  reroll destroy . --auto-approve"
    )]
    Destroy {
        /// The stack: one .hcl file, or a directory whose .hcl files are merged.
        path: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long)]
        auto_approve: bool,
    },
    /// Print the least-privilege IAM policy a command needs for a stack, as JSON.
    ///
    /// Evaluates the stack offline and never touches AWS; variables not given are unknown.
    #[command(
        after_help = "Examples:\n  reroll iam-policy stacks/demo\n  reroll iam-policy . --command plan > reroll-plan.json\n  reroll iam-policy . --command apply -var-file prod.hcl --region eu-west-1\n\n\
                      Exit codes: 0 the policy was printed, 1 the stack has an error."
    )]
    IamPolicy {
        /// The stack: one .hcl file, or a directory whose .hcl files are merged.
        path: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        /// The command the policy is for: `plan` (also `status`), `apply`, `rollback` (the
        /// same as apply's, which it needs), `destroy`, or `all` of them.
        #[arg(long, value_enum, default_value_t = PolicyCommand::All)]
        command: PolicyCommand,
    },
    /// Print a shell completion script for reroll.
    #[command(
        after_help = "Examples:\n  reroll completions bash > ~/.local/share/bash-completion/completions/reroll\n  reroll completions zsh > \"${fpath[1]}/_reroll\"\n  reroll completions fish > ~/.config/fish/completions/reroll.fish"
    )]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

/// Help as the README teaches it: `-var` and `-var-file` with one dash, as in Terraform (both
/// spellings are accepted).
pub fn help_text(rendered: &str) -> String {
    rendered
        .replace("--var-file", "-var-file")
        .replace("--var ", "-var ")
        .replace("--var\n", "-var\n")
}

/// Terraform users type `-var` with one dash: accept it as `--var`.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter()
        .map(|a| {
            for flag in ["-var", "-var-file"] {
                if a == flag {
                    return format!("-{flag}");
                }
                if let Some(rest) = a.strip_prefix(&format!("{flag}=")) {
                    return format!("-{flag}={rest}");
                }
            }
            a
        })
        .collect()
}

impl Global {
    /// Flag combinations clap cannot express.
    pub fn check(&self) -> Result<(), String> {
        if self.sim_state.is_some() && self.cloud != CloudKind::Sim {
            return Err(
                "--sim-state needs --cloud sim: it is the file a simulated account is kept in"
                    .into(),
            );
        }
        if self.lock.is_some() && self.cloud == CloudKind::Sim {
            return Err(
                "--lock needs --cloud aws: a simulated account is locked by a local \
                        lock on its --sim-state file"
                    .into(),
            );
        }
        Ok(())
    }
}

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Text,
    Openmetrics,
}

/// The command `iam-policy` writes a policy for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyCommand {
    Plan,
    Apply,
    Rollback,
    Destroy,
    All,
}
