//! The real [`Instances`]: each instance is a Wasm component run by
//! [`container::run`] on the runtime's guest executor.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Instances, Start, Started, Term};
use crate::container::{self, Image, Launch, SharedSignal, TerminationSignal};
use crate::runtime::Runtime;
use crate::sandbox::{OutputSink, Stream};
use crate::supervisor::observed::Slot;

/// Runs a pod's instances as Wasm, each container's from its compiled image.
pub(crate) struct WasmInstances {
    pub(crate) runtime: Runtime,
    pub(crate) images: HashMap<Slot, Image>,
}

impl Instances for WasmInstances {
    fn start(&self, s: Start) -> Started {
        let signal = SharedSignal::default();
        // The runtime-wide limit (RuntimeConfig::max_instances).
        let slot = match self.runtime.instance_slot() {
            Ok(slot) => slot,
            Err(why) => {
                return Started {
                    exit: tokio::spawn(async move { container::Exit::StartError(why) }),
                    term: signal as Arc<dyn Term>,
                };
            }
        };
        let launch = Launch {
            image: self.images[&s.slot].clone(),
            argv: s.argv,
            env: s.env,
            preopens: s.preopens,
            stdout: OutputSink::new(s.output.clone(), Stream::Stdout),
            stderr: OutputSink::new(s.output, Stream::Stderr),
            termination: signal.clone(),
            network: s.network,
            memory_limit: s.memory_limit,
            cpu: s.cpu,
        };
        let run = container::run(self.runtime.engine().clone(), launch);
        let permit = s.permit;
        let exit = self.runtime.guest_handle().spawn(async move {
            let exit = run.await;
            drop((permit, slot));
            exit
        });
        Started {
            exit,
            term: signal as Arc<dyn Term>,
        }
    }
}

/// The guest's termination capability (`wasmpod:lifecycle/termination`).
impl Term for TerminationSignal {
    fn handles(&self) -> bool {
        self.is_subscribed()
    }

    fn send(&self, deadline: std::time::Instant) {
        self.request(deadline);
    }
}
