//! `wasi:sockets/ip-name-lookup` on [`PodNetView`] (see [`super::lookup`]),
//! and the `network` interface's error conversion, which the generated
//! bindings call on the same view to turn our `SocketError`s into the
//! guest's `error-code`s.

use std::io;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddress, Network};
use wasmtime_wasi::p2::{DynPollable, SocketError, SocketResult, subscribe};

use super::PodNetView;
use super::bindings::ip_name_lookup;
use super::lookup::{ResolveAddressStream, resolve};

impl ip_name_lookup::Host for PodNetView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> SocketResult<Resource<ResolveAddressStream>> {
        self.table.get(&network)?;
        let mut result = resolve(self.net.hostname(), &name);
        // Then `spec.hostAliases`, as the pod's `/etc/hosts` lists them after its own names.
        if let Err(ErrorCode::NameUnresolvable) = result {
            let aliased = self.net.host_alias(&name);
            if !aliased.is_empty() {
                result = Ok(aliased);
            }
        }
        // In a cluster, other names go to its DNS (Services, pods).
        if let Err(ErrorCode::NameUnresolvable) = &result
            && let Some(ips) = self.net.cluster_lookup(&name)
        {
            result = Ok(ips);
        }
        // Bad syntax fails now; an unknown name when the stream is read.
        if let Err(ErrorCode::InvalidArgument) = result {
            return Err(ErrorCode::InvalidArgument.into());
        }
        Ok(self.table.push(ResolveAddressStream::new(result))?)
    }
}

impl ip_name_lookup::HostResolveAddressStream for PodNetView<'_> {
    fn resolve_next_address(
        &mut self,
        this: Resource<ResolveAddressStream>,
    ) -> SocketResult<Option<IpAddress>> {
        let stream = self.table.get_mut(&this)?;
        Ok(stream.next_address()?.map(IpAddress::from))
    }

    fn subscribe(
        &mut self,
        this: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl network::Host for PodNetView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        error.downcast()
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<io::Error>().map(|e| match e.kind() {
            io::ErrorKind::ConnectionReset => ErrorCode::ConnectionReset,
            _ => ErrorCode::Unknown,
        }))
    }
}

impl network::HostNetwork for PodNetView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
