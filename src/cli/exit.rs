//! Exit codes, and the error that carries one.

pub const EXIT_OK: u8 = 0;

pub const EXIT_ERROR: u8 = 1;

pub const EXIT_CHANGES: u8 = 2;

pub const EXIT_ROLLED_BACK: u8 = 3;

pub const EXIT_PAUSED: u8 = 4;

pub const EXIT_INTERRUPTED: u8 = 130;

/// An error that already printed itself and carries its exit code.
#[derive(Debug)]
pub(super) struct Exit(pub(super) u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}
