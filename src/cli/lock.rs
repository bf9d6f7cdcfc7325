//! The stack's apply lock: where it lives, what it excludes, taking it for a command, and
//! `reroll force-unlock`.

use std::path::Path;

use anyhow::{bail, Context as _, Result};

use reroll::cloud::Cloud;
use reroll::load::Inputs;
use reroll::lock::{self as stack_lock, Held, LockKey, LockSetting, LockUrl, Unlocked};
use reroll::stack::Stack;

use super::args::{CloudKind, VarArgs};
use super::context::{connect, inputs, load_offline, Ctx};
use super::exit::EXIT_OK;

/// `reroll force-unlock PATH [LOCK_ID]`: removes a lock whose holder is gone.
pub(super) async fn force_unlock(
    ctx: &Ctx,
    path: &Path,
    id: Option<&str>,
    vars: &VarArgs,
) -> Result<u8> {
    let mut inputs = inputs(vars, ctx.global.region.clone());
    inputs.allow_missing = true;
    let (_, stack) = load_offline(path, &inputs)?;
    let cloud = connect(ctx, &stack).await?;
    let Some(key) = lock_key(ctx, &stack, &*cloud).await? else {
        eprintln!("A simulated account without --sim-state has no lock; nothing to remove.");
        return Ok(EXIT_OK);
    };
    let unlocked = match lock_url(ctx, &stack)? {
        Some(url) => {
            let clock = stack_lock::Clock::new();
            stack_lock::s3::force_unlock(&*cloud, url, &key, id, path, &clock).await?
        }
        None => stack_lock::local::force_unlock(path, &key, id)?,
    };
    match unlocked {
        Unlocked::Nothing { place } => {
            eprintln!("There is no lock of {key} in {place}; nothing to remove.");
        }
        Unlocked::Removed {
            place,
            record,
            live,
        } => {
            let holder = record
                .map(|r| format!(", held by {r}, lock id {}", r.id))
                .unwrap_or_default();
            eprintln!("Removed the lock of {key} from {place}{holder}.");
            if live {
                eprintln!(
                    "Its lease was still being renewed: if that command still runs, it notices \
                     at its next renewal and stops."
                );
            }
        }
    }
    Ok(EXIT_OK)
}

/// Where the stack's lock lives: `--lock`, else the stack's `lock`; `None`: a local file. A
/// simulated account is always locked locally, on the file it is kept in.
pub(super) fn lock_url<'a>(ctx: &'a Ctx, stack: &'a Stack) -> Result<Option<&'a LockUrl>> {
    if ctx.global.cloud == CloudKind::Sim {
        return Ok(None);
    }
    if let Some(url) = &ctx.global.lock {
        return Ok(Some(url));
    }
    match &stack.lock {
        LockSetting::Local => Ok(None),
        LockSetting::Shared(url) => Ok(Some(url)),
        LockSetting::Unknown => bail!(
            "the stack's `lock` depends on a value that is not known here (a variable with no \
             value?); give it (-var, -var-file or REROLL_VAR_…) or pass --lock, so that the \
             right lock is taken"
        ),
    }
}

/// What the lock excludes: the stack in the region and account the cloud says it is in, not
/// the endpoint's spelling (for a local lock behind an endpoint override, also where that
/// endpoint is: every emulator is account 123456789012). A simulated account: its
/// `--sim-state` file; `None` for one held in memory only, which no other command can reach.
pub(super) async fn lock_key(
    ctx: &Ctx,
    stack: &Stack,
    cloud: &dyn Cloud,
) -> Result<Option<LockKey>> {
    if ctx.global.cloud == CloudKind::Sim && ctx.global.sim_state.is_none() {
        return Ok(None);
    }
    let account = cloud
        .account_id()
        .await
        .context("cannot tell which AWS account the credentials act in, to lock the stack there")?;
    let key = LockKey::new(&stack.name, cloud.region(), &account);
    Ok(Some(
        match (
            ctx.global.cloud,
            &ctx.global.sim_state,
            &ctx.global.endpoint_url,
        ) {
            (CloudKind::Sim, Some(state), _) => key.simulated(state),
            // The shared lock lives behind the endpoint already.
            (CloudKind::Aws, _, Some(endpoint)) if lock_url(ctx, stack)?.is_none() => {
                key.at_endpoint(stack_lock::endpoint_identity(endpoint).await)
            }
            _ => key,
        },
    ))
}

/// Takes the stack's apply lock for the rest of the command, before anything is observed. It
/// is released when the command ends, whatever the outcome. A shared lock lost while held is
/// reported at once, and the command is asked to stop.
pub(super) async fn lock(ctx: &Ctx, path: &Path, inputs: &Inputs, command: &str) -> Result<()> {
    let mut inputs = inputs.clone();
    inputs.allow_missing = true;
    let (_, stack) = load_offline(path, &inputs)?;
    let cloud = connect(ctx, &stack).await?;
    let Some(key) = lock_key(ctx, &stack, &*cloud).await? else {
        return Ok(());
    };
    let held = match lock_url(ctx, &stack)? {
        Some(url) => {
            let options = stack_lock::s3::Options {
                clock: stack_lock::Clock::new(),
                stop: ctx.stop.clone(),
            };
            let held = stack_lock::s3::acquire(cloud, url, &key, command, path, options).await?;
            Held::S3(Box::new(held))
        }
        None => Held::Local(stack_lock::local::acquire(path, &key, command)?),
    };
    if let Some(mut lost) = held.lost() {
        tokio::spawn(async move {
            while lost.changed().await.is_ok() {
                if let Some(lost) = lost.borrow_and_update().clone() {
                    eprintln!("\nerror: {lost}");
                    break;
                }
            }
        });
    }
    *ctx.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(held);
    Ok(())
}
