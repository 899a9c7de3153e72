//! The one place that calls libc: every raw call sits behind a safe function here, grouped by
//! what it acts on. Callers pass descriptors and C strings and get `Result<_, Errno>`. Every
//! descriptor created here is close-on-exec.

use nix::errno::Errno;

/// `syscall!(name(args...))` calls `libc::name` and turns the `-1 + errno` convention into
/// `Err(Errno)`. Each use states why its arguments are valid (the call runs in `unsafe`).
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        let ret = unsafe { nix::libc::$fn($($arg),*) };
        if ret == -1 {
            Err(nix::errno::Errno::last())
        } else {
            Ok(ret)
        }
    }};
}

/// `errno_call!(name(args...))` for the functions that return 0 or an error number instead of
/// setting errno (posix_spawn and its helpers).
macro_rules! errno_call {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        match unsafe { nix::libc::$fn($($arg),*) } {
            0 => Ok(()),
            rc => Err(nix::errno::Errno::from_raw(rc)),
        }
    }};
}

pub(crate) mod dl;
pub(crate) mod fd;
pub(crate) mod fs;
pub(crate) mod process;
pub(crate) mod sock_diag;
pub(crate) mod socket;
pub(crate) mod spawn;

/// The errno behind an io::Error (EIO if it has none).
pub(crate) fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO))
}
