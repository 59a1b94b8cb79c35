//! `wasi:sockets/tcp` and `tcp-create-socket` on [`PodNetView`]: resource
//! table plumbing around [`TcpSocket`].
//!
//! A connection's streams are pushed as children of their socket (the guest
//! must drop them before the socket, as wasmtime-wasi requires too); they
//! are views, so dropping them leaves the connection open. An accepted
//! socket is a new top-level resource.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{IpAddressFamily, IpSocketAddress, Network};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, SocketResult, subscribe};

use super::PodNetView;
use super::bindings::{tcp, tcp_create_socket};
use super::netns::Family;
use super::pipe::{PipeReader, PipeWriter};
use super::tcp::TcpSocket;

pub(super) fn family(f: IpAddressFamily) -> Family {
    match f {
        IpAddressFamily::Ipv4 => Family::V4,
        IpAddressFamily::Ipv6 => Family::V6,
    }
}

pub(super) fn address_family(f: Family) -> IpAddressFamily {
    match f {
        Family::V4 => IpAddressFamily::Ipv4,
        Family::V6 => IpAddressFamily::Ipv6,
    }
}

impl PodNetView<'_> {
    fn push_streams(
        &mut self,
        parent: &Resource<TcpSocket>,
        reader: PipeReader,
        writer: PipeWriter,
    ) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let input: DynInputStream = Box::new(reader);
        let output: DynOutputStream = Box::new(writer);
        let input = self.table.push_child(input, parent)?;
        let output = self.table.push_child(output, parent)?;
        Ok((input, output))
    }
}

impl tcp_create_socket::Host for PodNetView<'_> {
    fn create_tcp_socket(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<TcpSocket>> {
        self.check_socket_budget()?;
        let socket = TcpSocket::new(self.net.clone(), family(address_family));
        Ok(self.table.push(socket)?)
    }
}

impl tcp::Host for PodNetView<'_> {}

impl tcp::HostTcpSocket for PodNetView<'_> {
    fn start_bind(
        &mut self,
        this: Resource<TcpSocket>,
        network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.table.get(&network)?;
        let socket = self.table.get_mut(&this)?;
        Ok(socket.start_bind(local_address.into())?)
    }

    fn finish_bind(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        Ok(self.table.get_mut(&this)?.finish_bind()?)
    }

    fn start_connect(
        &mut self,
        this: Resource<TcpSocket>,
        network: Resource<Network>,
        remote_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.table.get(&network)?;
        let socket = self.table.get_mut(&this)?;
        Ok(socket.start_connect(remote_address.into())?)
    }

    fn finish_connect(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let (reader, writer) = self.table.get_mut(&this)?.finish_connect()?;
        self.push_streams(&this, reader, writer)
    }

    fn start_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        Ok(self.table.get_mut(&this)?.start_listen()?)
    }

    fn finish_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        Ok(self.table.get_mut(&this)?.finish_listen()?)
    }

    fn accept(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(
        Resource<TcpSocket>,
        Resource<DynInputStream>,
        Resource<DynOutputStream>,
    )> {
        self.check_socket_budget()?;
        let (socket, reader, writer) = self.table.get_mut(&this)?.accept()?;
        let socket = self.table.push(socket)?;
        let (input, output) = self.push_streams(&socket, reader, writer)?;
        Ok((socket, input, output))
    }

    fn local_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        Ok(self.table.get(&this)?.local_address()?.into())
    }

    fn remote_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        Ok(self.table.get(&this)?.remote_address()?.into())
    }

    fn is_listening(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&this)?.is_listening())
    }

    fn address_family(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(address_family(self.table.get(&this)?.family()))
    }

    fn set_listen_backlog_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        Ok(self.table.get_mut(&this)?.set_listen_backlog_size(value)?)
    }

    fn keep_alive_enabled(&mut self, this: Resource<TcpSocket>) -> SocketResult<bool> {
        Ok(self.table.get(&this)?.options.keep_alive)
    }

    fn set_keep_alive_enabled(
        &mut self,
        this: Resource<TcpSocket>,
        value: bool,
    ) -> SocketResult<()> {
        self.table.get_mut(&this)?.options.keep_alive = value;
        Ok(())
    }

    fn keep_alive_idle_time(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.options.keep_alive_idle_ns)
    }

    fn set_keep_alive_idle_time(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        Ok(self
            .table
            .get_mut(&this)?
            .options
            .set_keep_alive_idle_time(value)?)
    }

    fn keep_alive_interval(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.options.keep_alive_interval_ns)
    }

    fn set_keep_alive_interval(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        Ok(self
            .table
            .get_mut(&this)?
            .options
            .set_keep_alive_interval(value)?)
    }

    fn keep_alive_count(&mut self, this: Resource<TcpSocket>) -> SocketResult<u32> {
        Ok(self.table.get(&this)?.options.keep_alive_count)
    }

    fn set_keep_alive_count(&mut self, this: Resource<TcpSocket>, value: u32) -> SocketResult<()> {
        Ok(self
            .table
            .get_mut(&this)?
            .options
            .set_keep_alive_count(value)?)
    }

    fn hop_limit(&mut self, this: Resource<TcpSocket>) -> SocketResult<u8> {
        Ok(self.table.get(&this)?.options.hop_limit)
    }

    fn set_hop_limit(&mut self, this: Resource<TcpSocket>, value: u8) -> SocketResult<()> {
        Ok(self.table.get_mut(&this)?.options.set_hop_limit(value)?)
    }

    fn receive_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.options.receive_buffer)
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        Ok(self
            .table
            .get_mut(&this)?
            .options
            .set_receive_buffer_size(value)?)
    }

    fn send_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.options.send_buffer)
    }

    fn set_send_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        Ok(self
            .table
            .get_mut(&this)?
            .options
            .set_send_buffer_size(value)?)
    }

    fn subscribe(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn shutdown(&mut self, this: Resource<TcpSocket>, how: tcp::ShutdownType) -> SocketResult<()> {
        let (receive, send) = match how {
            tcp::ShutdownType::Receive => (true, false),
            tcp::ShutdownType::Send => (false, true),
            tcp::ShutdownType::Both => (true, true),
        };
        Ok(self.table.get_mut(&this)?.shutdown(receive, send)?)
    }

    fn drop(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<()> {
        // Frees the port (and closes the listener) at once.
        self.table.delete(this)?;
        Ok(())
    }
}
