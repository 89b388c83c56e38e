//! The listening socket, with a backlog sized for a fleet: axum's default listener asks for
//! 1,024 pending connections, and 10,000 agents reconnecting at once overflow it (the kernel
//! drops SYNs, and clients retransmit after 1, 3, 7 s). The kernel caps the request at
//! `net.core.somaxconn`.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Pending connections asked for (the kernel may cap it lower).
pub const BACKLOG: u32 = 16_384;

/// Bind `addr` with [`BACKLOG`] (and `SO_REUSEADDR`, so a restarted server can take its port
/// back while old connections linger in TIME_WAIT).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
