//! Symbols of the running process.

use nix::libc;
use std::ffi::CStr;
use std::ptr::NonNull;

/// The address of `name` among the symbols the process has loaded (the Node binary's
/// exported libuv functions), or None.
pub(crate) fn symbol(name: &CStr) -> Option<NonNull<libc::c_void>> {
    // SAFETY: dlsym only reads the name; RTLD_DEFAULT searches the global scope.
    NonNull::new(unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) })
}
