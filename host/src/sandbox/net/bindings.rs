//! Host bindings for `wasi:sockets@0.2.12` whose socket resources are ours.
//!
//! The WIT is the one wasmtime-wasi 48 implements (copied into `wit/`
//! beside this file; `wasi:io` comes from the repository's `wit/deps`).
//! `wasi:io` and `wasi:clocks` map to wasmtime-wasi's bindings, so streams
//! and pollables are the ones the rest of WASI uses. So do `network` and
//! `instance-network`: the `network` resource is a capability token with no
//! state, wasmtime-wasi's implementation of it stays linked, and its
//! `error-code` type (with wasmtime-wasi's `SocketError` as the trappable
//! error) is the one our functions return. `tcp`, `tcp-create-socket`,
//! `udp`, `udp-create-socket` and `ip-name-lookup` are generated here with
//! our resource types and linked over wasmtime-wasi's (see
//! [`add_to_linker`](super::add_to_linker)).
//!
//! Every function is synchronous: nothing in an in-memory network blocks;
//! waiting is done through pollables.

wasmtime::component::bindgen!({
    path: [
        "../wit/deps/io.wit",
        "src/sandbox/net/wit/clocks.wit",
        "src/sandbox/net/wit/sockets.wit",
    ],
    world: "wasi:sockets/imports",
    imports: { default: trappable },
    require_store_data_send: true,
    trappable_error_type: {
        "wasi:sockets/network.error-code" => wasmtime_wasi::p2::SocketError,
    },
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:sockets/network": wasmtime_wasi::p2::bindings::sockets::network,
        "wasi:sockets/instance-network": wasmtime_wasi::p2::bindings::sockets::instance_network,
        "wasi:sockets/tcp.tcp-socket": super::tcp::TcpSocket,
        "wasi:sockets/udp.udp-socket": super::udp::UdpSocket,
        "wasi:sockets/udp.incoming-datagram-stream": super::udp::IncomingDatagramStream,
        "wasi:sockets/udp.outgoing-datagram-stream": super::udp::OutgoingDatagramStream,
        "wasi:sockets/ip-name-lookup.resolve-address-stream": super::lookup::ResolveAddressStream,
    },
});

pub use self::wasi::sockets::{ip_name_lookup, tcp, tcp_create_socket, udp, udp_create_socket};
