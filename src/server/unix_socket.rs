//! memcached's `-s path` listener: one unix socket, accepted on shard 0 (a unix socket
//! cannot be shared with SO_REUSEPORT) and served by the shard with the fewest connections
//! (`server::spread`), whose connections then route keys to their owners like any other.
//! The file gets the `-a` mode and is removed on exit.

use super::runtime::place;
use super::shard::Shard;
use super::spread::Moved;
use glommio::net::UnixListener;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::rc::Rc;
use std::time::Duration;

/// Before any shard starts: a socket file left by a crashed run is removed, as memcached
/// does; anything else at `path` is left alone (binding then fails).
pub fn prepare(path: &str) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Binds `path` with mode `mask` and accepts on this shard until shutdown.
pub fn listen(shard: &Rc<Shard>, path: &str, mask: u32) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("failed to listen on unix socket {path}: {e}");
    let listener = UnixListener::bind(path).map_err(|e| fail(e.into()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mask)).map_err(fail)?;
    glommio::spawn_local(accept_loop(shard.clone(), listener)).detach();
    Ok(())
}

async fn accept_loop(shard: Rc<Shard>, listener: UnixListener) {
    loop {
        match listener.shared_accept().await {
            Ok(s) => {
                if shard.shared.shutting_down() {
                    // A bare fd until bound: bound and dropped, it closes.
                    drop(s.bind_to_executor());
                    return;
                }
                place(&shard, Moved::Unix(s));
            }
            // Out of descriptors and the like: wait for connections to close.
            Err(e) => {
                tracing::warn!("accept on the unix socket failed: {e}");
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// On exit: the socket file goes, as memcached removes it.
pub fn remove(path: &str) {
    let _ = std::fs::remove_file(path);
}
