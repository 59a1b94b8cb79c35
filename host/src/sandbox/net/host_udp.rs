//! `wasi:sockets/udp` and `udp-create-socket` on [`PodNetView`]: resource
//! table plumbing around [`UdpSocket`] and its datagram streams (children
//! of the socket; `stream` may be called again only once the previous
//! streams were dropped, as wasmtime-wasi requires).

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{IpAddressFamily, IpSocketAddress, Network};
use wasmtime_wasi::p2::{DynPollable, SocketError, SocketResult, subscribe};

use super::PodNetView;
use super::bindings::{udp, udp_create_socket};
use super::host_tcp::{address_family, family};
use super::options::{buffer_size, hop_limit};
use super::udp::{IncomingDatagramStream, OutgoingDatagramStream, UdpSocket};

impl udp_create_socket::Host for PodNetView<'_> {
    fn create_udp_socket(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<UdpSocket>> {
        self.check_socket_budget()?;
        let socket = UdpSocket::new(self.net.clone(), family(address_family));
        Ok(self.table.push(socket)?)
    }
}

impl udp::Host for PodNetView<'_> {}

impl udp::HostUdpSocket for PodNetView<'_> {
    fn start_bind(
        &mut self,
        this: Resource<UdpSocket>,
        network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.table.get(&network)?;
        Ok(self
            .table
            .get_mut(&this)?
            .start_bind(local_address.into())?)
    }

    fn finish_bind(&mut self, this: Resource<UdpSocket>) -> SocketResult<()> {
        Ok(self.table.get_mut(&this)?.finish_bind()?)
    }

    fn stream(
        &mut self,
        this: Resource<UdpSocket>,
        remote_address: Option<IpSocketAddress>,
    ) -> SocketResult<(
        Resource<IncomingDatagramStream>,
        Resource<OutgoingDatagramStream>,
    )> {
        let busy = self
            .table
            .iter_children(&this)?
            .any(|c| c.is::<IncomingDatagramStream>() || c.is::<OutgoingDatagramStream>());
        if busy {
            return Err(SocketError::trap(wasmtime::format_err!(
                "UDP streams not dropped yet"
            )));
        }
        let socket = self.table.get_mut(&this)?;
        let (incoming, outgoing) = socket.stream(remote_address.map(Into::into))?;
        let incoming = self.table.push_child(incoming, &this)?;
        let outgoing = self.table.push_child(outgoing, &this)?;
        Ok((incoming, outgoing))
    }

    fn local_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        Ok(self.table.get(&this)?.local_address()?.into())
    }

    fn remote_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        Ok(self.table.get(&this)?.remote_address()?.into())
    }

    fn address_family(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(address_family(self.table.get(&this)?.family()))
    }

    fn unicast_hop_limit(&mut self, this: Resource<UdpSocket>) -> SocketResult<u8> {
        Ok(self.table.get(&this)?.hop_limit)
    }

    fn set_unicast_hop_limit(&mut self, this: Resource<UdpSocket>, value: u8) -> SocketResult<()> {
        self.table.get_mut(&this)?.hop_limit = hop_limit(value)?;
        Ok(())
    }

    fn receive_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.receive_buffer)
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<UdpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.table.get_mut(&this)?.receive_buffer = buffer_size(value)?;
        Ok(())
    }

    fn send_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.send_buffer)
    }

    fn set_send_buffer_size(&mut self, this: Resource<UdpSocket>, value: u64) -> SocketResult<()> {
        self.table.get_mut(&this)?.send_buffer = buffer_size(value)?;
        Ok(())
    }

    fn subscribe(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<()> {
        // Frees the port at once; datagrams still queued are discarded.
        self.table.delete(this)?;
        Ok(())
    }
}

impl udp::HostIncomingDatagramStream for PodNetView<'_> {
    fn receive(
        &mut self,
        this: Resource<IncomingDatagramStream>,
        max_results: u64,
    ) -> SocketResult<Vec<udp::IncomingDatagram>> {
        let max = usize::try_from(max_results).unwrap_or(usize::MAX);
        let stream = self.table.get_mut(&this)?;
        Ok(stream
            .receive(max)?
            .into_iter()
            .map(|d| udp::IncomingDatagram {
                data: d.data,
                remote_address: d.from.into(),
            })
            .collect())
    }

    fn subscribe(
        &mut self,
        this: Resource<IncomingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<IncomingDatagramStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl udp::HostOutgoingDatagramStream for PodNetView<'_> {
    fn check_send(&mut self, this: Resource<OutgoingDatagramStream>) -> SocketResult<u64> {
        Ok(self.table.get_mut(&this)?.check_send() as u64)
    }

    fn send(
        &mut self,
        this: Resource<OutgoingDatagramStream>,
        datagrams: Vec<udp::OutgoingDatagram>,
    ) -> SocketResult<u64> {
        let stream = self.table.get_mut(&this)?;
        if datagrams.is_empty() {
            return Ok(0);
        }
        if datagrams.len() > stream.take_permits() {
            return Err(SocketError::trap(wasmtime::format_err!(
                "send of {} datagrams was not permitted by check-send",
                datagrams.len()
            )));
        }
        let mut sent = 0;
        for d in datagrams {
            match stream.send(d.data, d.remote_address.map(Into::into)) {
                Ok(()) => sent += 1,
                // Once one datagram went out, the rest are simply not sent.
                Err(_) if sent > 0 => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(sent)
    }

    fn subscribe(
        &mut self,
        this: Resource<OutgoingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<OutgoingDatagramStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
